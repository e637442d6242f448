"""Instructions per call, counted by callgrind (valgrind): repeatable where timings on a shared
2-core machine are not. Run by `benchmarks/run.py --only instructions`; by hand:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*functools_reduce*' \\
        --callgrind-out-file=/dev/null python benchmarks/instructions.py sync following 40 5

Only what runs inside `functools.reduce` is counted: the measured calls, after a warm-up.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import orjson

from benchmarks.run import NOW, SETTINGS, following, starting
from hooks.core import sync


def main() -> None:
    what, shape, profiles, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    raw = orjson.dumps((following if shape == "following" else starting)(profiles))
    body = orjson.loads(raw)

    def one(_: Any, __: int) -> None:
        if what == "loads":
            orjson.loads(raw)
        else:
            sync(body, SETTINGS, NOW)

    for _ in range(20):
        one(None, 0)
    functools.reduce(one, range(calls), None)


if __name__ == "__main__":
    main()
