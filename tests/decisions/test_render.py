"""hooks.render: an observed Job handed back as a desired child (the Job is the record)."""

from __future__ import annotations

from builders import JOB_UID, as_observed_job, buildable, nimbuild, nimcache, request

from hooks import vocabulary as v
from hooks.render import hand_back


def test_handed_back_job_loses_server_fields_and_keeps_ours(client: object) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="1")])])
    desired = client.post("/sync", json=body).get_json()["children"][0]
    observed = as_observed_job(desired)
    observed["metadata"]["annotations"]["metacontroller.k8s.io/last-applied-configuration"] = "{}"
    back = hand_back(observed)
    assert "status" not in back and "selector" not in back["spec"]
    assert "uid" not in back["metadata"] and "managedFields" not in back["metadata"]
    labels = back["spec"]["template"]["metadata"]["labels"]
    assert JOB_UID not in labels.values()
    assert (
        labels[v.BUILD_POD_LABEL]
        == desired["spec"]["template"]["metadata"]["labels"][v.BUILD_POD_LABEL]
    )
    assert back["spec"]["template"]["spec"] == desired["spec"]["template"]["spec"]
    assert "metacontroller.k8s.io/last-applied-configuration" not in back["metadata"]["annotations"]


def test_the_labels_the_hook_sets_itself_are_the_vocabularys_job_label_keys(
    client: object,
) -> None:
    """Without spec or platform labels, the Job and its pod template carry exactly the keys
    `v.JOB_LABEL_KEYS` lists (the ones NIMBUILD_HOOK_JOB_LABELS may not set): the two cannot
    drift apart."""
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    body = request(nimbuild(), caches=[nimcache(profiles=[buildable(tp="1")])])
    (job,) = client.post("/sync", json=body).get_json()["children"]
    job_keys = set(job["metadata"]["labels"])
    pod_keys = set(job["spec"]["template"]["metadata"]["labels"])
    assert pod_keys == set(v.JOB_LABEL_KEYS)
    assert job_keys == set(v.JOB_LABEL_KEYS) - {v.BUILD_POD_LABEL}
    assert job["metadata"]["labels"][v.LABEL_MANAGED_BY] == v.MANAGED_BY
