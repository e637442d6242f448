"""The baseline for the HTTP benchmark: the same Flask + gunicorn stack that only parses the
body and answers a constant. The hook's figures are compared against this, measured in the
same run on the same machine (DESIGN §8)."""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/sync")
def sync() -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"parsed": isinstance(body, dict)}), mimetype="application/json")


@app.get("/readyz")
def readyz() -> Response:
    return Response(b"{}", mimetype="application/json")
