"""`python -m engine_builder` / `engine-builder`: run one build, write its result, exit.

This is the I/O edge: it reads the env once, runs the chosen backend, writes the result file
(the container's termination message, which the hook reads) and maps the outcome to an exit
code, so the Job succeeds exactly when a readable output profile was written:

    0  success: {"outputProfile", "engineDir", "buildSeconds"} written
    1  the build failed: {"error": ...} written
    2  the NIMBUILD_* settings are unusable: {"error": ...} written
    3  the result file cannot be written (the message is on stderr only)

Logs go to stderr, one line per step, for `kubectl logs <pod> -c engine-builder`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from engine_builder import nim, trtllm
from engine_builder.errors import BuildError
from engine_builder.result import ResultTooLarge, error_result, success_result
from engine_builder.settings import (
    BACKEND_TRTLLM,
    ConfigError,
    parse_settings,
    result_file_from_env,
    settings_table,
)

EXIT_OK: Final = 0
EXIT_BUILD_FAILED: Final = 1
EXIT_BAD_SETTINGS: Final = 2
EXIT_NO_RESULT_FILE: Final = 3

log = logging.getLogger("engine_builder")

DESCRIPTION = """\
Build (or wait for) a TensorRT-LLM engine for one NIM profile and report the built profile.
Runs as the main container `engine-builder` of a NIMBuild build Job. It takes no options:
everything comes from the NIMBUILD_* env vars the hook renders (DESIGN §6)."""

EPILOG = f"""\
settings (environment variables):
{settings_table()}

backends:
  nim     the NIM server in the `nim-build-ctr` sidecar builds the engine when it starts;
          wait for GET /v1/health/ready = 200 (polls at most 2 s apart), failing at once if
          its processes end first; then read local_cache/local_manifest.yaml, take the first
          profile with tags.model_name = NIMBUILD_MODEL_NAME, check config.json and
          rank<N>.engine for every rank (tp x pp) exist
  trtllm  build with TensorRT-LLM 1.2 from the input profile's HF snapshot, rank by rank,
          into local_cache/<model name>/trtllm_engine/, and add the profile to the manifest

result file (one JSON object, < 4096 bytes):
  success {{"outputProfile": {{"name", "model", "release", "config": {{str: str}}}},
           "engineDir": str, "buildSeconds": number}}
  failure {{"error": str}}

exit codes:
  0 success; 1 build failed; 2 bad settings; 3 result file not writable"""


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ engine-builder %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def write_result(path: Path, body: bytes) -> bool:
    """Write the result; False (and a line on stderr) when it cannot be written."""
    try:
        with path.open("wb") as handle:
            handle.write(body)
    except OSError as exc:
        log.error("cannot write the result file %s: %s", path, exc)
        return False
    return True


def fail(path: Path, message: str, code: int) -> int:
    log.error("build failed: %s", message)
    body = error_result(message)
    if not write_result(path, body):
        return EXIT_NO_RESULT_FILE
    log.info("wrote the error to %s (%d bytes)", path, len(body))
    return code


def on_sigterm(result_file: Path) -> Callable[[int, FrameType | None], None]:
    """SIGTERM (the Job's deadline, a deletion): leave an error result, then exit at once.

    The handler may interrupt anything, a write to stderr included, so it neither raises (an
    exception inside a logging call is swallowed by `logging`) nor uses the buffered stderr
    (a re-entrant write fails): it writes the result file, one raw line on fd 2, and exits.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        message = "stopped by SIGTERM (the Job's deadline passed or it was deleted)"
        try:
            result_file.write_bytes(error_result(message))
            code = EXIT_BUILD_FAILED
        except OSError:
            code = EXIT_NO_RESULT_FILE
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.write(2, f"\n{stamp} engine-builder ERROR build failed: {message}\n".encode())
        os._exit(code)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="engine-builder",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    configure_logging()
    env = dict(os.environ)
    result_file = result_file_from_env(env)
    try:
        settings = parse_settings(env)
    except ConfigError as exc:
        return fail(result_file, str(exc), EXIT_BAD_SETTINGS)

    log.info(
        "starting: backend %s, model name %s, input profile %s, model store %s, result file %s",
        settings.backend,
        settings.model_name,
        settings.input_profile or "(not given)",
        settings.model_store,
        settings.result_file,
    )
    signal.signal(signal.SIGTERM, on_sigterm(result_file))
    backend = trtllm if settings.backend == BACKEND_TRTLLM else nim
    try:
        built = backend.run(settings)
        body = success_result(built.profile, str(built.engine_dir), built.build_seconds)
    except (BuildError, ResultTooLarge) as exc:
        return fail(result_file, str(exc), EXIT_BUILD_FAILED)
    except Exception as exc:  # a bug: still leave a readable result behind
        log.exception("unexpected error")
        return fail(result_file, f"unexpected {type(exc).__name__}: {exc}", EXIT_BUILD_FAILED)
    if not write_result(result_file, body):
        return EXIT_NO_RESULT_FILE
    log.info(
        "done: profile %s, engine in %s, wrote %d bytes to %s",
        built.profile.name,
        built.engine_dir,
        len(body),
        result_file,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
