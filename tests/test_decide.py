def test_job_deleted_mid_build_keeps_the_pending_condition_true() -> None:
    """Seen on the real control plane (make e2e): a Job deleted while its pod ran used to turn
    NIM_BUILD_ENGINE_BUILD_POD_PENDING False ("Resolved") for one sync, then True again around
    the re-created Job: a flap. The build is not over, so the condition stays True."""
    import datetime

    from builders import buildable, nimbuild, nimcache, request

    from hooks import vocabulary as v
    from hooks.core import sync
    from hooks.settings import Settings

    running = {
        "state": "InProgress",
        "conditions": [
            {"type": v.COND_POD_PENDING, "status": "True", "reason": "PodRunning",
             "message": "The engine build is in progress",
             "lastTransitionTime": "2026-01-01T00:00:05Z"},
        ],
    }  # fmt: skip
    body = request(nimbuild(status=running), caches=[nimcache(profiles=[buildable(tp="1")])])
    now = datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.UTC)
    answer = sync(body, Settings(), now)
    status = answer["status"]
    assert status["state"] == v.STARTED
    assert len(answer["children"]) == 1, "the Job is rendered again"
    (pending,) = [c for c in status["conditions"] if c["type"] == v.COND_POD_PENDING]
    assert pending["status"] == "True"
    assert pending["lastTransitionTime"] == "2026-01-01T00:00:05Z", "no transition"
    assert "created again" in pending["message"]
