"""The control-plane binaries: found in $E2E_BIN_DIR (or ../shared/e2e-bin), unpacked once.

`$E2E_BIN_DIR` is a directory holding either the `*.xz` files with `SHA256SUMS` or already
unpacked, executable binaries. Default: `../shared/e2e-bin` seen from the checkout or from any
directory above it (a git worktree may sit deeper than the main checkout). xz files are
unpacked into a cache (`${XDG_CACHE_HOME:-~/.cache}/nimbuild-controller/e2e-bin/`), checked against
`SHA256SUMS` and reused by later runs; a file lock keeps concurrent runs from racing.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
from pathlib import Path

from filelock import FileLock

NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "metacontroller")
REPO = Path(__file__).resolve().parents[1]


def default_dir() -> Path:
    for parent in REPO.parents:
        candidate = parent / "shared" / "e2e-bin"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "e2e-bin"


class MissingBinary(RuntimeError):
    """A binary cannot be found or does not match its checksum; the message says what to set."""


def source_dir() -> Path:
    raw = os.environ.get("E2E_BIN_DIR", "").strip()
    return Path(raw).expanduser() if raw else default_dir()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "nimbuild-controller" / "e2e-bin"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sums(directory: Path) -> dict[str, str]:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return {}
    result: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            result[parts[1].lstrip("*")] = parts[0]
    return result


def _unpack(xz: Path, target: Path, expected: str | None) -> None:
    partial = target.with_name(target.name + ".partial")
    with lzma.open(xz) as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    if expected is not None and _sha256(partial) != expected:
        partial.unlink()
        raise MissingBinary(
            f"{xz} does not unpack to the binary named in SHA256SUMS; set E2E_BIN_DIR to a "
            "directory with intact control-plane binaries"
        )
    partial.chmod(0o755)
    partial.replace(target)


def locate() -> dict[str, Path]:
    """name → executable path for every binary in NAMES; raises MissingBinary with one line."""
    source = source_dir()
    sums = _sums(source)
    found: dict[str, Path] = {}
    cache = cache_dir()
    for name in NAMES:
        plain = source / name
        if plain.is_file() and os.access(plain, os.X_OK):
            found[name] = plain
            continue
        xz = source / f"{name}.xz"
        if not xz.is_file():
            raise MissingBinary(
                f"no {name} or {name}.xz in {source}: set E2E_BIN_DIR to the directory holding "
                f"the control-plane binaries ({', '.join(NAMES)})"
            )
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / name
        with FileLock(str(cache / ".lock")):
            stamp = cache / f"{name}.sha256"
            expected = sums.get(name)
            fresh = (
                target.is_file()
                and stamp.is_file()
                and stamp.read_text().strip() == (expected or f"size:{xz.stat().st_size}")
            )
            if not fresh:
                _unpack(xz, target, expected)
                stamp.write_text(expected or f"size:{xz.stat().st_size}")
        found[name] = target
    return found


def main() -> int:
    """`python -m e2e_cluster.binaries`: unpack/check once; one line and exit 2 if missing."""
    import sys

    try:
        for name, path in locate().items():
            print(f"{name}: {path}")
    except MissingBinary as error:
        print(f"e2e: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
