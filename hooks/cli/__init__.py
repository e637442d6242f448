"""`nimbuild`: the hook's answer offline, and a NIMBuild checked against the CRD.

    nimbuild render   -f nimbuild.yaml --nimcache nimcache.yaml [--job job.yaml] [--pod pod.yaml]
    nimbuild fixture  (the same inputs) [-o DIR [--expected]]
    nimbuild validate -f nimbuild.yaml [--old stored.yaml]

`render` and `fixture` build the Metacontroller v2 sync request the hook would receive for
these objects (parent; `related` NIMCaches and Pods and `children` Jobs keyed `namespace/name`)
and answer it with the hook's own pure core, `hooks.core.sync(request, settings, now)`: what
`render` prints is what the hook would answer, like `helm template` for a review. The objects
are passed as given (the hook itself ignores a NIMCache of another name or a pod of another
Job, as it does with whatever Metacontroller sends).

What a manifest leaves to the API server is filled in: `metadata.namespace` (`--namespace`,
default `default`, for every object that has none), and on the NIMBuild `uid` (a stable
placeholder derived from namespace and name), `generation` 1 and `creationTimestamp` (the
clock). The clock is `--now` (RFC 3339), default the current time.

Settings are the hook's: `NIMBUILD_HOOK_*` variables from the environment, read as the hook
reads them (`hooks.startup.load_settings`), so a render with the deployment's variables
answers as that deployment would; `--set NAME=VALUE` adds or overrides one, `--builder-image`
and `--trtllm-image` are short for the two images, `--no-env` ignores the environment (the
hook's defaults). The token settings are never read: they do not change an answer. A Job customizer
(`NIMBUILD_HOOK_JOB_CUSTOMIZER`) is imported and called as the hook does; one that fails is
an error naming the file (exit 2), as the hook answers 500.

Files: `-` is standard input; a file may hold several documents and `kind: List`s; each option
takes the objects of its kind (see `hooks.cli.documents`). `render` and `fixture` take exactly
one NIMBuild; `validate` checks every NIMBuild in the file.

Exit codes (DESIGN §10): 0 done (for `validate`: no errors); 2 on any error: `validate` found
errors, or the input cannot be used (missing file, bad YAML, wrong kind, bad option: one line on
stderr naming the file and line, never a traceback).

It uses only the core's entry point `hooks.core.sync` (a request it refuses raises a
ValueError, the hook's 400) and the hook's settings loader `hooks.startup.load_settings`, so it
sits beside the web layer (`hooks.sync`) and changes nothing inside the hook.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml

from hooks import core
from hooks import vocabulary as v
from hooks.cli import documents
from hooks.cli.documents import (
    JOB,
    NIMBUILD,
    NIMCACHE,
    POD,
    Document,
    InputError,
    Kind,
    load,
    pick,
)
from hooks.extend import CustomizerError
from hooks.settings import Settings
from hooks.startup import load_settings

CONTROLLER = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1",
    "kind": "CompositeController",
    "metadata": {"name": "nimbuild-controller"},
}
# Settings that do not change an answer; never read (the token file is a secret).
IGNORED_SETTINGS = ("NIMBUILD_HOOK_AUTH_TOKEN", "NIMBUILD_HOOK_AUTH_TOKEN_FILE")
UID_NAMESPACE = uuid.UUID("6f0b7c52-3f7e-4e38-9d3a-6e1b0c0d5a11")  # nimbuild CLI placeholders

# DESIGN §10: errors exit 2, whether the input is unusable or the NIMBuild is invalid.
EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 2, 2


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit code 2, as argparse has)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


# --- the request ------------------------------------------------------------------------------


def parse_now(text: str | None) -> datetime:
    """`--now`: an RFC 3339 time with a zone; None is the current time."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now {text!r}: not an RFC 3339 time (2026-01-01T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise InputError(f"--now {text!r}: give a time zone (Z or +01:00)")
    return moment


def _filled(document: Document, namespace: str) -> dict[str, Any]:
    """A copy of the object with `metadata.namespace` set when it had none."""
    obj = copy.deepcopy(document.data)
    if not obj["metadata"].get("namespace"):
        obj["metadata"]["namespace"] = namespace
    return obj


def parent_object(document: Document, namespace: str, now: datetime) -> dict[str, Any]:
    """The NIMBuild as the API server would store it: namespace, uid, generation, created."""
    parent = _filled(document, namespace)
    meta = parent["metadata"]
    meta.setdefault("uid", str(uuid.uuid5(UID_NAMESPACE, f"{meta['namespace']}/{meta['name']}")))
    meta.setdefault("generation", 1)
    meta.setdefault("creationTimestamp", core.timestamp(now))
    return parent


def _keyed(documents: Sequence[Document], namespace: str) -> dict[str, Any]:
    objects: dict[str, Any] = {}
    for document in documents:
        obj = _filled(document, namespace)
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if key in objects:
            raise InputError(f"{document.where()}: {document.kind} {key} is given twice")
        objects[key] = obj
    return objects


def _picked(paths: Sequence[str], kind: Kind) -> list[Document]:
    return [doc for path in paths for doc in pick(path, kind)]


def _one_nimbuild(path: str) -> Document:
    found = pick(path, NIMBUILD)
    if not found:  # an empty List: pick() accepts it as "there are none"
        raise InputError(f"{load(path).name}: holds no NIMBuild (an empty List); give one")
    if len(found) > 1:
        names = ", ".join(d.name for d in found)
        raise InputError(f"{found[1].where()}: holds {len(found)} NIMBuilds ({names}); give one")
    return found[0]


def sync_request(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """The Metacontroller v2 sync request for the objects named on the command line."""
    parent = parent_object(_one_nimbuild(args.file), args.namespace, now)
    namespace = parent["metadata"]["namespace"]
    return {
        "controller": CONTROLLER,
        "parent": parent,
        "children": {v.JOB_KEY: _keyed(_picked(args.job, JOB), namespace)},
        "related": {
            v.NIMCACHE_KEY: _keyed(_picked(args.nimcache, NIMCACHE), namespace),
            v.POD_KEY: _keyed(_picked(args.pod, POD), namespace),
        },
        "finalizing": args.finalizing,
    }


def hook_settings(args: argparse.Namespace) -> Settings:
    """The hook's settings: NIMBUILD_HOOK_* from the environment, then the options."""
    env = {} if args.no_env else dict(os.environ)
    env = {k: v for k, v in env.items() if k.startswith("NIMBUILD_HOOK_")}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("NIMBUILD_HOOK_"):
            raise InputError(f"--set {item!r}: expected NIMBUILD_HOOK_<NAME>=<value>")
        env[name] = value
    if args.builder_image:
        env["NIMBUILD_HOOK_BUILDER_IMAGE"] = args.builder_image
    if args.trtllm_image:
        env["NIMBUILD_HOOK_TRTLLM_IMAGE"] = args.trtllm_image
    for name in IGNORED_SETTINGS:
        env.pop(name, None)
    try:
        # As the hook loads them at start (the Job customizer imported too), so a render with
        # the deployment's variables answers as that deployment would; no token file is read.
        return load_settings(env)
    except ValueError as error:
        raise InputError(f"hook settings: {error}") from None


def answer(args: argparse.Namespace, request: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The hook's answer through its pure core; a request it would refuse (400) is an error
    naming the files it was built from."""
    settings = hook_settings(args)
    try:
        return core.sync(copy.deepcopy(request), settings, now)
    except CustomizerError as error:  # the hook answers 500: no Job from a broken customizer
        raise InputError(f"{args.file}: {error}") from None
    except ValueError as error:
        files = ", ".join(dict.fromkeys([args.file, *args.nimcache, *args.job, *args.pod]))
        raise InputError(f"{files}: the hook refuses this request (HTTP 400): {error}") from None


# --- commands ---------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """No anchors or aliases (`&id001` / `*id001`) where the answer shares one object twice:
    each place is printed in full, as `kubectl get -o yaml` would."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def render(args: argparse.Namespace) -> int:
    """Print the status and the children the hook answers, as YAML documents."""
    now = parse_now(args.now)
    request = sync_request(args, now)
    result = answer(args, request, now)
    meta = request["parent"]["metadata"]
    header = [f"# NIMBuild {meta['namespace']}/{meta['name']}: the status the hook answers"]
    header.append(f"# at {core.timestamp(now)}")
    if "resyncAfterSeconds" in result:
        header.append(f"# resyncAfterSeconds: {result['resyncAfterSeconds']}")
    if "finalized" in result:
        header.append(f"# finalized: {json.dumps(result['finalized'])}")
    children = result.get("children", [])
    if not children:
        header.append("# no child: the hook answers no Job (Metacontroller deletes any it has)")
    status = {
        "apiVersion": NIMBUILD.api_version,
        "kind": NIMBUILD.kind,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "status": result["status"],
    }
    out = ["\n".join(header) + "\n" + _yaml(status)]
    for child in children:
        child_meta = child.get("metadata", {})
        out.append(
            f"# {child.get('kind')} {child_meta.get('namespace')}/{child_meta.get('name')}:"
            " a child the hook answers\n" + _yaml(child)
        )
    sys.stdout.write("---\n".join(out))
    return EXIT_OK


def _json(document: dict[str, Any]) -> str:
    """As tests/fixtures/sync writes its pairs: sorted keys, two-space indent, final newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def fixture(args: argparse.Namespace) -> int:
    """Write the v2 request (and with --expected the hook's answer) for a unit test."""
    if args.expected and args.out is None:
        raise InputError("--expected writes DIR/expected.json: give the folder with -o DIR")
    now = parse_now(args.now)
    request = sync_request(args, now)
    if args.out is None:
        sys.stdout.write(_json(request))
        return EXIT_OK
    expected = answer(args, request, now) if args.expected else None
    folder = Path(args.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "request.json").write_text(_json(request), encoding="utf-8")
        if expected is not None:
            (folder / "expected.json").write_text(_json(expected), encoding="utf-8")
    except OSError as error:
        raise InputError(f"{args.out}: {error.strerror or error}") from None
    written = "request.json" + (" and expected.json" if expected is not None else "")
    clock = f" (answered at {core.timestamp(now)}: call hooks.core.sync with that time)"
    print(f"wrote {written} to {folder}{clock if expected is not None else ''}", file=sys.stderr)
    return EXIT_OK


def validate(args: argparse.Namespace) -> int:
    """Check each NIMBuild of the file against the CRD; errors → exit code 2 (DESIGN §10)."""
    from hooks.cli import checks  # jsonschema and cel-python: loaded only here

    documents = pick(args.file, NIMBUILD)
    olds = {}
    if args.old is not None:
        olds = {_identity(d, args.namespace): d for d in pick(args.old, NIMBUILD)}
    failed = False
    for document in documents:
        old = olds.get(_identity(document, args.namespace))
        findings = checks.check(document, old, args.old)
        errors = [f for f in findings if f.error]
        failed = failed or bool(errors)
        for finding in findings:
            label = "" if finding.error else "note: "
            print(f"{document.where(finding.path)}: {label}{finding.field}: {finding.message}")
        verdict = f"{len(errors)} error(s)" if errors else "valid"
        name = document.name if document.name.isprintable() else json.dumps(document.name)
        print(f"{document.where()}: NIMBuild {name}: {verdict}")
    return EXIT_INVALID if failed else EXIT_OK


def _identity(document: Document, namespace: str) -> tuple[str, str]:
    meta = document.data["metadata"]
    return str(meta.get("namespace") or namespace), document.name


# --- the command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nimbuild", description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def inputs(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-f", "--filename", dest="file", required=True, help="the NIMBuild")
        sub.add_argument("--nimcache", action="append", default=[], help="NIMCache(s) it reads")
        sub.add_argument("--job", action="append", default=[], help="its build Job, if any")
        sub.add_argument("--pod", action="append", default=[], help="the Job's pods, if any")
        sub.add_argument("-n", "--namespace", default="default", help="for objects without one")
        sub.add_argument("--now", help="the clock, RFC 3339 (default: the current time)")
        sub.add_argument("--finalizing", action="store_true", help="as a finalize call")
        sub.add_argument("--builder-image", help="= --set NIMBUILD_HOOK_BUILDER_IMAGE=…")
        sub.add_argument("--trtllm-image", help="= --set NIMBUILD_HOOK_TRTLLM_IMAGE=…")
        sub.add_argument("--set", action="append", default=[], metavar="NIMBUILD_HOOK_X=V")
        sub.add_argument("--no-env", action="store_true", help="ignore NIMBUILD_HOOK_* env")

    sub = commands.add_parser("render", help="print the status and Job the hook would answer")
    inputs(sub)
    sub.set_defaults(run=render)
    sub = commands.add_parser("fixture", help="write the v2 sync request (and the answer)")
    inputs(sub)
    sub.add_argument("-o", "--out", help="folder for request.json (default: print it)")
    sub.add_argument("--expected", action="store_true", help="also write expected.json")
    sub.set_defaults(run=fixture)
    sub = commands.add_parser("validate", help="check NIMBuilds against the CRD and CEL rules")
    sub.add_argument("-f", "--filename", dest="file", required=True, help="the NIMBuild(s)")
    sub.add_argument("--old", help="the stored object, for transition rules (self == oldSelf)")
    sub.add_argument("-n", "--namespace", default="default", help="for objects without one")
    sub.set_defaults(run=validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `nimbuild` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    documents.load.cache_clear()  # each file is read once per command, and afresh
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except InputError as error:
        print(f"nimbuild {args.command}: {error}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # `nimbuild render … | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code
