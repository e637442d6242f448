"""engine_builder.result: the result file, the builder's half of its contract with the hook.

Grid: success shape ; error truncation under 4096 bytes (ASCII, multi-byte, escapes) ; short
errors whole ; lone surrogates ; an over-large profile refused, not cut ; tag values as text.
"""

from __future__ import annotations

import json

import pytest

from engine_builder.result import (
    MAX_RESULT_BYTES,
    OutputProfile,
    ResultTooLarge,
    error_result,
    success_result,
    tag_text,
)

PROFILE = OutputProfile(name="p" * 64, model="m", release="1.0", config={"tp": "1"})


def test_success_shape() -> None:
    body = json.loads(success_result(PROFILE, "/model-store/x", 12.34567))
    assert body == {
        "outputProfile": {"name": "p" * 64, "model": "m", "release": "1.0", "config": {"tp": "1"}},
        "engineDir": "/model-store/x",
        "buildSeconds": 12.346,
    }


@pytest.mark.parametrize("unit", ["x", "é", "漢", '"', "\n", "\u0001"])
def test_long_errors_are_truncated_under_the_limit(unit: str) -> None:
    body = error_result("start " + unit * 10_000)
    assert len(body) <= MAX_RESULT_BYTES
    message = json.loads(body)["error"]
    assert message.startswith("start ")
    assert message.endswith("(truncated)")
    assert len(body) > MAX_RESULT_BYTES - 16  # as much as fits is kept


def test_short_errors_are_kept_whole() -> None:
    assert json.loads(error_result("boom")) == {"error": "boom"}


def test_lone_surrogates_become_readable_text() -> None:
    body = error_result("bad name \udcff here")
    assert json.loads(body.decode("utf-8"))["error"] == "bad name \\udcff here"


def test_a_profile_too_large_is_refused_not_cut() -> None:
    big = OutputProfile("p", "m", "r", {f"key{i}": "v" * 100 for i in range(50)})
    with pytest.raises(ResultTooLarge, match="does not fit"):
        success_result(big, "/x", 1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (None, ""),
        (2, "2"),
        (1.5, "1.5"),
        ("s", "s"),
        ([1], "[1]"),
    ],
)
def test_tag_text(value: object, expected: str) -> None:
    assert tag_text(value) == expected
