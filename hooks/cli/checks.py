"""`nimbuild validate`: a NIMBuild checked offline as `kubectl apply --validate=strict` would.

The API server checks a custom resource against its CRD's structural schema and the schema's
CEL rules (`x-kubernetes-validations`). Offline we do the same with the CRD shipped in this
package (`hooks/cli/crds/nimbuild.yaml`, a copy of `crds/nimbuild.yaml`):

- Unknown fields are *rejected*, not pruned: with strict field validation (kubectl's default
  since 1.27) the API server refuses `unknown field "spec.foo"`. Every object node with
  `properties` is closed unless it says `x-kubernetes-preserve-unknown-fields`.
- A `null` where the schema does not say `nullable` is dropped first, as the API server drops it.
- The schema itself runs through jsonschema (types, required, enums, patterns, minimum, …);
  `metadata` is checked as the API server checks ObjectMeta (name a DNS subdomain, namespace a
  DNS label, label and annotation keys and values, no unknown fields).
- CEL rules run with cel-python. A transition rule (one that reads `oldSelf`, like our
  `self == oldSelf` on `spec`) runs only on an update: give the stored object with `--old`,
  otherwise it is reported as not evaluated, as the API server skips it on create. A rule
  cel-python cannot evaluate (a Kubernetes extension function) is reported, not guessed.

Findings carry the field's path and, through `Document.where`, its line in the file.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from hooks.cli.documents import Document, FieldPath
from hooks.names import DNS_LABEL_PATTERN, LABEL_NAME_PATTERN

CRD_RESOURCE = "crds/nimbuild.yaml"

# RFC 3339 as Kubernetes writes `metav1.Time` (second precision or finer, "Z" or an offset).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.fullmatch(value))


FORMAT_CHECKER.checks("date-time")(_is_date_time)


# The hook's own name rules (hooks.names), with the lengths the API server also checks.
_SUBDOMAIN = rf"(?=.{{1,253}}$){DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*"
_QUALIFIED = rf"^((?=[^/]{{1,253}}/){DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*/)?(?=[^/]{{1,63}}$)"
_QUALIFIED += rf"{LABEL_NAME_PATTERN}$"
_QUANTITY_HINT = "[KMGTPE]i"

# ObjectMeta as a client may send it (apimachinery types.go), with the rules of
# apimachinery's ValidateObjectMeta that an offline check can apply.
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": f"^{_SUBDOMAIN}$",
            "x-message": "a lowercase RFC 1123 subdomain of at most 253 characters",
        },
        "generateName": {"type": "string"},
        "namespace": {
            "type": "string",
            "pattern": f"^(?=.{{1,63}}$){DNS_LABEL_PATTERN}$",
            "x-message": "a lowercase RFC 1123 label of at most 63 characters",
        },
        "labels": {
            "type": "object",
            "propertyNames": {
                "pattern": _QUALIFIED,
                "x-message": "a qualified name ([prefix/]name, name at most 63 characters)",
            },
            "additionalProperties": {
                "type": "string",
                "pattern": rf"^((?=.{{1,63}}$){LABEL_NAME_PATTERN})?$",
                "x-message": "a label value (at most 63 characters, alphanumeric at both ends)",
            },
        },
        "annotations": {
            "type": "object",
            "propertyNames": {
                "pattern": _QUALIFIED,
                "x-message": "a qualified name ([prefix/]name, name at most 63 characters)",
            },
            "additionalProperties": {"type": "string"},
        },
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"], "format": "date-time"},
        "deletionTimestamp": {"type": ["string", "null"], "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "selfLink": {"type": "string"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}


@dataclass(frozen=True)
class Finding:
    """One thing `kubectl apply` would refuse (`error`) or that was not checked (`note`)."""

    path: FieldPath
    message: str
    error: bool = True

    @property
    def field(self) -> str:
        """The field path as Kubernetes writes it: `spec.env[0].name`."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
        return out or "<object>"


# --- the CRD ------------------------------------------------------------------------------


@cache
def _crd() -> dict[str, Any]:
    text = resources.files("hooks.cli").joinpath(CRD_RESOURCE).read_text(encoding="utf-8")
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            return doc
    raise LookupError(f"no CustomResourceDefinition in hooks/cli/{CRD_RESOURCE}")


def crd_schema(version: str) -> dict[str, Any]:
    """`openAPIV3Schema` of the packaged NIMBuild CRD's `version` (a fresh copy)."""
    for entry in _crd()["spec"]["versions"]:
        if entry["name"] == version:
            return copy.deepcopy(entry["schema"]["openAPIV3Schema"])
    raise LookupError(f"the NIMBuild CRD has no version {version}")


def iter_nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every schema node of `schema`, itself included (depth first)."""
    yield schema
    for child in (schema.get("properties") or {}).values():
        yield from iter_nodes(child)
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            yield from iter_nodes(child)
    for key in ("anyOf", "allOf", "oneOf"):
        for child in schema.get(key) or ():
            yield from iter_nodes(child)


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` in which every object node with `properties` forbids unknown fields,
    except nodes with `x-kubernetes-preserve-unknown-fields: true` (the API server keeps
    unknown fields there too)."""
    out = copy.deepcopy(schema)
    for node in iter_nodes(out):
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
    return out


@cache
def _re2(pattern: str) -> re.Pattern[str]:
    r"""`pattern` as the API server reads it: RE2's `$` is the end of the text, where Python's
    also matches before a final newline (`"1\n"` is no quantity), so an unescaped `$` → `\Z`."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(
    checker: jsonschema.protocols.Validator, pattern: str, instance: object, _: object
) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and not _re2(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A jsonschema validator for a CRD schema node, checking `date-time` formats and matching
    `pattern`s as the API server does."""
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    base.check_schema(schema)
    extend = jsonschema.validators.extend  # untyped in jsonschema's stubs
    cls: type[jsonschema.protocols.Validator] = extend(base, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    return cls(schema, format_checker=FORMAT_CHECKER)


@cache
def _object_validator(version: str) -> jsonschema.protocols.Validator:
    schema = strict(crd_schema(version))
    schema.setdefault("properties", {})["metadata"] = _OBJECT_META
    return validator(schema)


# --- structural schema ------------------------------------------------------------------------


def drop_nulls(value: Any, schema: Mapping[str, Any]) -> Any:
    """`value` without the `null`s the API server drops (fields that are not `nullable`)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            node = props.get(key, extra if isinstance(extra, Mapping) else {})
            if item is None and not node.get("nullable"):
                continue
            out[key] = drop_nulls(item, node)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        node = items if isinstance(items, Mapping) else {}
        return [drop_nulls(item, node) for item in value]
    return value


def _describe(error: jsonschema.ValidationError) -> Iterator[Finding]:
    """A jsonschema error in the API server's words (`Required value`, `unknown field`, …)."""
    path: FieldPath = tuple(error.absolute_path)
    instance = error.instance
    keyword = error.validator
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    bound: Any = error.validator_value
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set(schema.get("properties") or {})
        for key in instance:
            if key not in known:
                where = (*path, key)
                yield Finding(where, f'unknown field "{Finding(where, "").field}"')
    elif keyword == "required" and isinstance(instance, dict):
        for key in bound:
            if key not in instance:
                yield Finding((*path, key), "Required value")
    elif keyword == "anyOf" and schema.get("x-kubernetes-int-or-string"):
        yield Finding(path, f"Invalid value: {_show(instance)}: must be an integer or a string")
    elif keyword == "type":
        yield Finding(path, f"Invalid value: {_show(instance)}: must be of type {bound}")
    elif keyword == "enum":
        allowed = ", ".join(_show(v) for v in bound)
        yield Finding(path, f"Unsupported value: {_show(instance)}: supported values: {allowed}")
    elif keyword == "pattern":
        if "propertyNames" in error.schema_path:
            # A map key that breaks the key rule: jsonschema reports it under the map's path.
            path = (*path, str(instance))
        yield Finding(path, f"Invalid value: {_show(instance)}: {_pattern_text(schema)}")
    else:
        text = {
            "maximum": f"must be less than or equal to {bound}",
            "minimum": f"must be greater than or equal to {bound}",
            "maxLength": f"may not be longer than {bound} characters",
        }.get(str(keyword), error.message)
        yield Finding(path, f"Invalid value: {_show(instance)}: {text}")


def _pattern_text(schema: Mapping[str, Any]) -> str:
    if "x-message" in schema:
        return f"must be {schema['x-message']}"
    pattern = str(schema.get("pattern", ""))
    if _QUANTITY_HINT in pattern:
        return "must be a quantity such as 1, 500m or 64Gi"
    return f"must match the pattern {pattern}"


def _show(value: object) -> str:
    if isinstance(value, dict | list):
        return "object" if isinstance(value, dict) else "array"
    if isinstance(value, str):
        # Quoted and escaped as Go's %q would: one finding stays one line ("1\n").
        return json.dumps(value if len(value) <= 80 else f"{value[:77]}...", ensure_ascii=False)
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def _schema_findings(obj: dict[str, Any], version: str) -> list[Finding]:
    return [f for error in _object_validator(version).iter_errors(obj) for f in _describe(error)]


# --- CEL --------------------------------------------------------------------------------------

_OLD_SELF = re.compile(r"\boldSelf\b")
ANY = "*"  # a list item or map value in a rule's schema path


def cel_rules(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every `x-kubernetes-validations` rule of `schema` with the schema path it sits at
    (`*` for "each list item" or "each map value")."""
    found: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def visit(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for rule in node.get("x-kubernetes-validations") or ():
            found.append((path, rule))
        for key, child in (node.get("properties") or {}).items():
            visit(child, (*path, key))
        for key in ("items", "additionalProperties"):
            child = node.get(key)
            if isinstance(child, Mapping):
                visit(child, (*path, ANY))

    visit(schema, ())
    return found


def _at(value: Any, schema_path: tuple[str, ...]) -> Iterator[tuple[FieldPath, Any]]:
    """The values at `schema_path` in `value`, each with its concrete path."""
    if not schema_path:
        yield (), value
        return
    head, rest = schema_path[0], schema_path[1:]
    if head == ANY and isinstance(value, list):
        children: Iterator[tuple[str | int, Any]] = iter(enumerate(value))
    elif head == ANY and isinstance(value, dict):
        children = iter(value.items())
    elif head != ANY and isinstance(value, dict) and value.get(head) is not None:
        children = iter([(head, value[head])])
    else:
        return
    for key, child in children:
        for path, found in _at(child, rest):
            yield (key, *path), found


def _old_value(old: Any, path: FieldPath) -> tuple[bool, Any]:
    """The old object's value at `path`; list items are not correlated (False)."""
    for part in path:
        if isinstance(part, int) or not isinstance(old, dict) or old.get(part) is None:
            return False, None
        old = old[part]
    return True, old


def _evaluate(rule: Mapping[str, Any], value: Any, old: Any, has_old: bool) -> bool | str:
    """True/False from the rule, or why it could not be evaluated here."""
    env = celpy.Environment()
    try:
        program = env.program(env.compile(str(rule["rule"])))
        activation = {"self": json_to_cel(value)}
        if has_old:
            activation["oldSelf"] = json_to_cel(old)
        result = program.evaluate(activation)
    except CELParseError as error:
        return f"cel-python cannot parse it ({' '.join(str(error).split())[:120]})"
    except CELEvalError as error:
        reason = str(error.args[0] if error.args else error).split(" (in activation")[0]
        return f"cel-python cannot evaluate it offline ({reason[:120]})"
    if isinstance(result, CELEvalError):
        reason = str(result.args[0] if result.args else result).split(" (in activation")[0]
        return f"cel-python cannot evaluate it offline ({reason[:120]})"
    return bool(result)


def _cel_findings(
    obj: dict[str, Any], old: dict[str, Any] | None, old_file: str | None, version: str
) -> list[Finding]:
    found: list[Finding] = []
    for schema_path, rule in cel_rules(crd_schema(version)):
        text = str(rule.get("rule", ""))
        transition = bool(_OLD_SELF.search(text))
        for path, value in _at(obj, schema_path):
            has_old, old_value = _old_value(old, path) if old is not None else (False, None)
            if transition and not has_old:
                if old_file is None:
                    why = "give the stored object with --old"
                elif old is None:
                    why = f"no stored NIMBuild of this namespace and name in {old_file}"
                else:
                    why = "the stored object has no such field"
                found.append(
                    Finding(path, f"rule `{text}` not evaluated: transition rule, {why}", False)
                )
                continue
            outcome = _evaluate(rule, value, old_value, has_old)
            if isinstance(outcome, str):
                found.append(Finding(path, f"rule `{text}` not evaluated: {outcome}", False))
            elif not outcome:
                where = path
                field_path = rule.get("fieldPath")
                if isinstance(field_path, str) and field_path.startswith("."):
                    where = (*path, *field_path[1:].split("."))
                message = rule.get("message") or f"failed rule: {text}"
                found.append(Finding(where, f"Invalid value: {message} (rule `{text}`)"))
    return found


# --- entry point ------------------------------------------------------------------------------


def check(
    document: Document, old: Document | None = None, old_file: str | None = None
) -> list[Finding]:
    """Everything the API server would say about `document` (a NIMBuild), errors first, in
    field order; `old` is the stored object for transition rules, found (or not) in the file
    `old_file` (None: no stored object given, as on create)."""
    version = str(document.data.get("apiVersion", "")).rpartition("/")[2]
    schema = crd_schema(version)
    obj = drop_nulls(document.data, schema)
    found = [Finding(path, "duplicate field", True) for path, _ in document.duplicates]
    found += _schema_findings(obj, version)
    old_obj = drop_nulls(old.data, schema) if old is not None else None
    found += _cel_findings(obj, old_obj, old_file, version)
    return sorted(found, key=lambda f: (not f.error, document.line_of(f.path), f.field, f.message))
