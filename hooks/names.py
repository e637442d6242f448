"""Kubernetes name rules: label and annotation keys, label values, and object names that must
fit 63 characters (the build Job's name, the `app.kubernetes.io/instance` label).

Each check raises ValueError with a message that names the offending key, so a pydantic
validator or a hook setting can report it as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from hooks import vocabulary as v

# The patterns as text, for schemas that spell them out (`nimbuild validate`'s ObjectMeta).
DNS_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"  # RFC 1123 label, without its length
LABEL_NAME_PATTERN = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"  # a label name or value
LABEL_NAME = re.compile(rf"^{LABEL_NAME_PATTERN}$")
DNS_SUBDOMAIN = re.compile(rf"^{DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*$")


def check_qualified_name(key: str) -> None:
    """A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name <= 63. A
    slash needs a prefix before it (`/team` is refused, as apimachinery's IsQualifiedName
    refuses an empty prefix)."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"key {key!r} has an invalid prefix")
    if len(name) > 63 or not LABEL_NAME.fullmatch(name):
        raise ValueError(f"key {key!r} is not a valid label or annotation key")


def check_labels(value: Mapping[str, str]) -> None:
    """Keys are qualified names; values empty or a label name of at most 63 characters."""
    for key, text in value.items():
        check_qualified_name(key)
        if text and (len(text) > 63 or not LABEL_NAME.fullmatch(text)):
            raise ValueError(f"label value {text!r} (key {key!r}) is not a valid label value")


def check_annotations(value: Mapping[str, str]) -> None:
    """Annotation values are free text; only the keys have rules, those of a qualified name
    with case ignored (apimachinery's ValidateAnnotations lowercases the key first)."""
    for key in value:
        try:
            check_qualified_name(key.lower())
        except ValueError:
            check_qualified_name(key)  # the same fault, named as the key is written


def cut_name(text: str, limit: int = v.NAME_LIMIT) -> str:
    """`text` if it fits, else a prefix plus a stable 8-character hash of the whole text."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-._')}-{digest}"


def job_name(parent_name: str) -> str:
    """`<nimbuild>-engine-build`, cut to 63 characters with a stable hash suffix when too long."""
    return cut_name(parent_name + v.JOB_SUFFIX)
