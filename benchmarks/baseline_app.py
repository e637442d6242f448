"""The floor for the HTTP benchmark (issue 11): the same Flask + gunicorn stack, served by the same
gunicorn command, that decodes the body with Flask's stock `request.get_json()` and answers a
fixed minimal response with `jsonify`. It does strictly less than the hook; the hook's figures
are compared against it, measured in the same run on the same machine (DESIGN §8)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.post("/sync")
def sync() -> Response:
    request.get_json()
    return jsonify(ok=True)


@app.get("/readyz")
def readyz() -> Response:
    return jsonify(status="ready")
