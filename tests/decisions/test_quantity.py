"""hooks.quantity: the quantity pattern the API server accepts, and amounts compared."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hooks.quantity import quantity_text, quantity_value


@pytest.mark.parametrize(
    ("wire", "text"),
    [
        ("1", "1"),
        (2, "2"),
        (0.5, "0.5"),
        ("500m", "500m"),
        ("16Gi", "16Gi"),
        ("1e3", "1e3"),
        ("+1.5E-2", "+1.5E-2"),
        (".5", ".5"),
    ],
)
def test_quantities_kubernetes_accepts_keep_their_string_form(wire: str | int, text: str) -> None:
    assert quantity_text(wire) == text


@pytest.mark.parametrize("wire", ["", "1 Gi", "1GB", "Gi", "1.2.3", "0x10", "1i", True, "one"])
def test_quantities_kubernetes_refuses(wire: str | bool) -> None:
    with pytest.raises(ValueError, match="quantity"):
        quantity_text(wire)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("1Ki", Decimal(1024)),
        ("1k", Decimal(1000)),
        ("2Gi", Decimal(2 * 2**30)),
        ("1e3", Decimal(1000)),
        ("1.5M", Decimal(1_500_000)),
        ("100n", Decimal("1e-7")),
    ],
)
def test_quantity_value(text: str, amount: Decimal) -> None:
    assert quantity_value(text) == amount


def test_binary_and_decimal_suffixes_compare_by_amount() -> None:
    assert quantity_value("1Gi") > quantity_value("1G")
    assert quantity_value("1024Mi") == quantity_value("1Gi")
    assert quantity_value("1") == quantity_value("1000m")
