"""Kubernetes objects from the YAML files given on the command line, with their line numbers.

The files are read the way `kubectl apply -f` reads them, as far as the hook cares:

- a file holds one or more YAML documents (`---`); a `kind: List` (or `PodList`, …, what
  `kubectl get -o yaml` writes) counts as its `items`;
- each option picks the documents of its own kind (`--pod` the Pods, `--nimcache` the
  NIMCaches, …) and ignores the rest, so one file may serve several options; a file with none
  of the wanted kind is an error (an empty List is not: it says "there are none");
- values stay JSON: an unquoted timestamp stays a string (sigs.k8s.io/yaml converts YAML to JSON;
  PyYAML alone would make a datetime), and a value JSON cannot hold (a binary, NaN, a key that
  is not a string) is an error.

Every problem is an `InputError` whose text names the file and, where known, the line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from hooks import vocabulary as v
from hooks.extend import not_json


class InputError(Exception):
    """A file cannot be used: missing, not YAML, the wrong kind. One line, names the file."""


# A field's path in an object, e.g. ("spec", "env", 0, "name") for spec.env[0].name.
FieldPath = tuple[str | int, ...]
# Path → 1-based line in the file.
Lines = dict[FieldPath, int]


@dataclass(frozen=True)
class Document:
    """One object of a file: its data, the file, the line it starts on, where its fields are."""

    data: dict[str, Any]
    file: str
    line: int
    lines: Lines = field(default_factory=dict, compare=False, repr=False)
    duplicates: tuple[tuple[FieldPath, int], ...] = ()

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        return name if isinstance(name, str) else ""

    def line_of(self, path: FieldPath = ()) -> int:
        """The line of the field at `path`, or of its nearest parent that is in the file."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                return line
        return self.line

    def where(self, path: FieldPath = ()) -> str:
        """`file:line` of the field at `path` (see `line_of`)."""
        return f"{self.file}:{self.line_of(path)}"


class _JSONLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: `2026-01-01T00:00:00Z` stays a string."""


_JSONLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(path: str) -> tuple[str, str]:
    """(display name, text) of `path`; `-` is standard input."""
    if path == "-":
        return "<stdin>", sys.stdin.read()
    try:
        return path, Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a YAML file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from None


def _yaml_error(name: str, error: yaml.YAMLError) -> InputError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    text = ": ".join(p for p in parts if p) or str(error)
    return InputError(f"{where}: not valid YAML: {' '.join(text.split())}")


def _walk(
    node: yaml.Node, path: FieldPath, lines: Lines, dups: list[tuple[FieldPath, int]]
) -> None:
    """Record the line of every field under `node` (a mapping entry: its key's line); note
    keys given twice in one mapping (PyYAML keeps the last; the API server refuses them)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                dups.append(((*path, name), key.start_mark.line + 1))
            seen.add(name)
            # The last of duplicate keys wins, in the data and here.
            lines[(*path, name)] = key.start_mark.line + 1
            _walk(value, (*path, name), lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, dups)


def _check_json(value: object, where: str) -> None:
    found = not_json(value)
    if found is None:
        return
    bad = found.offender
    if found.is_key:
        raise InputError(f"{where}: key {bad!r} is not a string (JSON has string keys)")
    if isinstance(bad, float):
        raise InputError(f"{where}: {bad} is not a JSON number")
    raise InputError(f"{where}: a {type(bad).__name__} value is not JSON")


@dataclass(frozen=True)
class File:
    """The objects of one file (Lists unpacked), in order; `lists` counts the Lists in it."""

    name: str
    documents: tuple[Document, ...]
    lists: int


@cache
def load(path: str) -> File:
    """The file at `path` (`-`: standard input), read once however many options name it."""
    name, text = _read(path)
    loader = _JSONLoader(text)
    documents: list[Document] = []
    lists = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() said there is one
                continue
            lines: Lines = {}
            dups: list[tuple[FieldPath, int]] = []
            _walk(node, (), lines, dups)
            data = loader.construct_document(node)
            start = node.start_mark.line + 1
            if data is None:
                continue
            _check_json(data, f"{name}:{start}")
            if not isinstance(data, dict):
                raise InputError(
                    f"{name}:{start}: a {type(data).__name__}, not a Kubernetes object"
                )
            document = Document(data, name, start, lines, tuple(dups))
            if document.kind.endswith("List") and isinstance(data.get("items"), list):
                lists += 1
            documents.extend(_unpack(document))
    except yaml.YAMLError as error:
        raise _yaml_error(name, error) from None
    except RecursionError:  # an alias inside itself (`&a [*a]`), or absurd nesting
        raise InputError(f"{name}: nested too deeply (or an alias that contains itself)") from None
    finally:
        loader.dispose()
    return File(name, tuple(documents), lists)


def _unpack(document: Document) -> Iterator[Document]:
    """A `kind: List` (`PodList`, …) as its items, each with its own lines; else itself."""
    items = document.data.get("items")
    if not (document.kind.endswith("List") and isinstance(items, list)):
        yield document
        return
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{document.where(('items', index))}: a List item is not an object")
        lines = {
            path[2:]: line for path, line in document.lines.items() if path[:2] == ("items", index)
        }
        dups = tuple((p[2:], n) for p, n in document.duplicates if p[:2] == ("items", index))
        yield Document(item, document.file, lines.get((), document.line), lines, dups)


@dataclass(frozen=True)
class Kind:
    """What an option wants: the kind and apiVersion of the objects it reads."""

    kind: str
    api_version: str


NIMBUILD = Kind("NIMBuild", v.NIM_API_VERSION)
NIMCACHE = Kind("NIMCache", v.NIM_API_VERSION)
JOB = Kind("Job", "batch/v1")
POD = Kind("Pod", "v1")


def pick(path: str, wanted: Kind) -> list[Document]:
    """The objects of kind `wanted` in the file at `path`; an error when there are none (an
    empty List excepted) or when one of them has another apiVersion or no name."""
    file = load(path)
    chosen = [d for d in file.documents if d.kind == wanted.kind]
    if not file.documents and not file.lists:
        raise InputError(f"{file.name}: holds no {wanted.kind} (no objects in it)")
    if file.documents and not chosen:
        found = ", ".join(sorted({d.kind or "(no kind)" for d in file.documents}))
        first = file.documents[0]
        raise InputError(f"{first.where()}: holds no {wanted.kind} (found kind {found})")
    for doc in chosen:
        if doc.data.get("apiVersion") != wanted.api_version:
            raise InputError(
                f"{doc.where(('apiVersion',))}: {wanted.kind} has apiVersion "
                f"{doc.data.get('apiVersion')!r}, expected {wanted.api_version!r}"
            )
        if not isinstance(doc.data.get("metadata"), dict) or not doc.name:
            raise InputError(f"{doc.where(('metadata',))}: {wanted.kind} has no metadata.name")
    return chosen
