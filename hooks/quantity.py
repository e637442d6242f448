"""Kubernetes quantities (`"1"`, `"500m"`, `"16Gi"`, `"1e3"`): the pattern the API server
accepts, and the amount one stands for, so two can be compared (requests within limits).

Quantities are int-or-string on the wire; a rendered Job always carries the string form.
"""

from __future__ import annotations

import re
from decimal import Decimal

QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

_SUFFIX: dict[str, Decimal | int] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip


def quantity_text(value: str | int | float) -> str:
    """A wire quantity (string or number) as the string a Job carries; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a quantity such as '1' or '16Gi'")
    text = str(value)
    if not QUANTITY.fullmatch(text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return text


def quantity_value(text: str) -> Decimal:
    """The amount a (pattern-checked) Kubernetes quantity stands for, to compare two."""
    match = re.fullmatch(r"([+-]?[0-9.]+)(.*)", text)
    assert match is not None
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]
