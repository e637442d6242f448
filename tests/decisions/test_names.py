"""hooks.names: label and annotation keys, label values, and names cut to 63 characters."""

from __future__ import annotations

import re

import pytest

from hooks.names import check_annotations, check_labels, check_qualified_name, job_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "name",
    ["a", "x" * 50, "x" * 51, "y" * 253, "meta-llama-3-1-70b-instruct-" * 8, "a-" * 40 + "b"],
)
def test_job_name_fits_63_characters_and_is_stable(name: str) -> None:
    built = job_name(name)
    full = f"{name}-engine-build"
    assert len(built) <= 63
    assert DNS_LABEL.match(built)
    assert job_name(name) == built
    if len(full) <= 63:
        assert built == full
    else:
        # cut, with a stable hash of the whole name as its suffix
        prefix, _, digest = built.rpartition("-")
        assert re.fullmatch(r"[0-9a-f]{8}", digest)
        assert full.startswith(prefix)


def test_long_names_that_share_a_prefix_get_different_job_names() -> None:
    a, b = "p" * 60 + "-one", "p" * 60 + "-two"
    assert job_name(a) != job_name(b)


@pytest.mark.parametrize(
    "key",
    ["team", "example.com/team", "a.b-c_d", "x" * 63, "nimbuild.apps.nvidia.com/nimbuild-uid"],
)
def test_qualified_names_kubernetes_accepts(key: str) -> None:
    check_qualified_name(key)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 64, id="name-over-63"),
        pytest.param("-team", id="leading-dash"),
        pytest.param("Example.com/team", id="uppercase-prefix"),
        pytest.param("a/b/c", id="two-slashes"),
        pytest.param("has space", id="space"),
        pytest.param("/team", id="empty-prefix"),
        pytest.param("/", id="slash-only"),
    ],
)
def test_qualified_names_kubernetes_refuses(key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        check_qualified_name(key)


@pytest.mark.parametrize("check", [check_labels, check_annotations])
def test_an_empty_prefix_is_refused_as_an_invalid_prefix(check: object) -> None:
    """apimachinery's IsQualifiedName: a prefix, when the key has a slash, is a non-empty DNS
    subdomain; the same error as any other bad prefix."""
    assert callable(check)
    with pytest.raises(ValueError, match=r"^key '/team' has an invalid prefix$"):
        check({"/team": "ml"})
    with pytest.raises(ValueError, match=r"^key 'bad_/team' has an invalid prefix$"):
        check({"bad_/team": "ml"})


def test_case_counts_in_label_keys_not_in_annotation_keys() -> None:
    """apimachinery: ValidateLabels checks the key as written, ValidateAnnotations lowercases it
    first, so `Example.COM/team` is a valid annotation key and no valid label key."""
    with pytest.raises(ValueError, match=r"^key 'Example.COM/team' has an invalid prefix$"):
        check_labels({"Example.COM/team": "ml"})
    check_annotations({"Example.COM/team": "ml"})
    with pytest.raises(ValueError, match=r"^key 'Example.COM /team' has an invalid prefix$"):
        check_annotations({"Example.COM /team": "ml"})  # named as written, not lowercased


@pytest.mark.parametrize(
    ("labels", "valid"),
    [
        pytest.param({"team": "ml"}, True, id="plain"),
        pytest.param({"team": ""}, True, id="empty-value"),
        pytest.param({"team": "x" * 64}, False, id="value-over-63"),
        pytest.param({"team": "a b"}, False, id="value-with-space"),
        pytest.param({"team": "-ml"}, False, id="value-leading-dash"),
    ],
)
def test_label_values(labels: dict[str, str], valid: bool) -> None:
    if valid:
        check_labels(labels)
    else:
        with pytest.raises(ValueError, match="label value"):
            check_labels(labels)


def test_annotation_values_are_free_text_but_keys_are_checked() -> None:
    check_annotations({"example.com/note": "any text, even with spaces: {}"})
    with pytest.raises(ValueError, match="key"):
        check_annotations({"bad key": "x"})
