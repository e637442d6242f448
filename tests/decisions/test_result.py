"""hooks.result: the builder's result file (DESIGN §6), readable or not, case by case."""

from __future__ import annotations

import json

import pytest

from hooks.result import RESULT_LIMIT, read_result

GOOD = {
    "outputProfile": {"name": "id", "model": "m", "release": "r", "config": {"k": "v"}},
    "engineDir": "/model-store/local_cache/m/trtllm_engine",
    "buildSeconds": 1.5,
}


@pytest.mark.parametrize(
    ("text", "readable"),
    [
        pytest.param(json.dumps(GOOD), True, id="success"),
        pytest.param(json.dumps({**GOOD, "buildSeconds": 2}), True, id="integer-seconds"),
        pytest.param('{"error": "boom"}', True, id="error"),
        pytest.param("", False, id="empty"),
        pytest.param("Traceback (most recent call last)", False, id="logs-not-json"),
        pytest.param("[1]", False, id="not-an-object"),
        pytest.param(json.dumps({**GOOD, "extra": 1}), False, id="extra-key"),
        pytest.param(json.dumps({**GOOD, "buildSeconds": True}), False, id="bool-seconds"),
        pytest.param(json.dumps({**GOOD, "engineDir": 3}), False, id="dir-not-string"),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "name": ""}}),
            False,
            id="empty-profile-name",
        ),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "config": {"k": 1}}}),
            False,
            id="config-not-strings",
        ),
        pytest.param(
            json.dumps({**GOOD, "outputProfile": {**GOOD["outputProfile"], "model": None}}),
            False,
            id="model-null",
        ),
        pytest.param('{"error": 5}', False, id="error-not-string"),
        pytest.param(json.dumps({"error": "x" * RESULT_LIMIT}), False, id="over-4096-bytes"),
    ],
)
def test_result_file_contract(text: str, readable: bool) -> None:
    assert (read_result(text) is not None) == readable
