"""The hook's pure entry points: a decoded request in, a response (plain data) out.

`sync` and `customize` take the JSON body as decoded by the web layer and raise
`RequestError` for a malformed request; they never do I/O, read the clock or log. `sync` calls
the platform's Job customizer when the settings carry one, and raises `CustomizerError`
(`hooks.extend`) when it fails; the web layer answers that with 500. The `nimbuild` CLI calls
the same two functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hooks import vocabulary as v
from hooks.decide import decide
from hooks.errors import RequestError
from hooks.request import parse_parent, parse_sync_request
from hooks.settings import Settings
from hooks.wire import JSON_OBJECT

_TWO = [f"{n:02d}" for n in range(60)]  # two-digit fields of a timestamp


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as `metav1.Time` serializes: the text of
    `strftime("%Y-%m-%dT%H:%M:%SZ")` (glibc does not pad the year either), at a quarter of
    its cost (one sync in fifty was spent in strftime)."""
    m = moment.astimezone(UTC)
    day = f"{m.year}-{_TWO[m.month]}-{_TWO[m.day]}"
    return f"{day}T{_TWO[m.hour]}:{_TWO[m.minute]}:{_TWO[m.second]}Z"


def sync(body: object, settings: Settings, now: datetime) -> dict[str, Any]:
    """POST /sync: `{controller, parent, children, related, finalizing}` → `{status, children}`."""
    if not isinstance(body, JSON_OBJECT):
        raise RequestError("request body must be a JSON object")
    return decide(parse_sync_request(body), settings, timestamp(now))


def customize(body: object) -> dict[str, Any]:
    """POST /customize: the related objects, a function of the parent only (Metacontroller
    caches the answer per parent uid and generation)."""
    if not isinstance(body, JSON_OBJECT):
        raise RequestError("request body must be a JSON object")
    parent = parse_parent(body)
    meta = parent.metadata
    if not meta.namespace:
        # A v2 rule with namespace "" lists every namespace (as /nimcache/customize refuses).
        raise RequestError("parent.metadata.namespace must be a non-empty string")
    spec = parent.spec if isinstance(parent.spec, JSON_OBJECT) else {}
    ref = spec.get("nimCache")
    cache_name = ref.get("name") if isinstance(ref, JSON_OBJECT) else None
    # An invalid spec (no cache name) still gets both rules; "" names no NIMCache at all.
    return {
        "relatedResources": [
            {
                "apiVersion": v.NIM_API_VERSION,
                "resource": "nimcaches",
                "namespace": meta.namespace,
                "names": [cache_name if isinstance(cache_name, str) else ""],
            },
            {
                "apiVersion": "v1",
                "resource": "pods",
                "namespace": meta.namespace,
                "labelSelector": {"matchLabels": {v.BUILD_POD_LABEL: meta.uid}},
            },
        ]
    }
