"""Liveness from the first moment; readiness only once the model is loaded, retrying a model that is not there."""

from __future__ import annotations

import shutil
import time

import orjson
import pytest
from model_factory import FEATURES
from serving_processes import http, post_json, start_serving_image

pytestmark = pytest.mark.slow  # starts real server processes


def wait_for_reason(server, words: str, timeout: float = 60) -> str:
    """Poll /ready until it is 503 with a reason containing `words`; returns the reason."""
    deadline = time.monotonic() + timeout
    reason = ""
    while time.monotonic() < deadline:
        status, body, _ = http("GET", server.url("/ready"))
        assert status == 503, body
        reason = orjson.loads(body)["reason"]
        if words in reason:
            return reason
        time.sleep(0.1)
    raise AssertionError(f"/ready never gave a reason with {words!r} within {timeout}s; last: {reason!r}")


def test_a_missing_model_keeps_the_process_alive_and_not_ready_until_it_appears(tmp_path, logistic_model):
    model_path = tmp_path / "arrives-later"
    server = start_serving_image(str(model_path), tmp_path / "server", WORKERS="2")
    try:
        server.wait_until("/health")
        reason = wait_for_reason(server, "failed to load")  # the first attempt has failed, the process lives on
        assert "arrives-later" in reason
        status, error = post_json(server.url("/invocations"),
                                  {"dataframe_split": {"columns": FEATURES, "data": [[0.0] * len(FEATURES)]}})
        assert status == 503 and error["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert error["message"].startswith("model is not ready: ")  # this worker's own state: loading or failed

        shutil.copytree(logistic_model, model_path)
        server.wait_until("/ready", timeout=60)
        status, answer = post_json(server.url("/invocations"),
                                   {"dataframe_split": {"columns": FEATURES, "data": [[0.0] * len(FEATURES)]}})
        assert status == 200 and len(answer["predictions"]) == 1
        assert "model load failed; retrying" in server.log()
        assert "arrives-later" in server.log()
    finally:
        server.stop()


def test_a_bad_setting_stops_at_once_naming_the_variable(tmp_path):
    import subprocess
    import sys

    from serving_processes import REPO_ROOT, serving_image_env

    env = serving_image_env("/nowhere", 8080, tmp_path, WORKERS="zero")
    result = subprocess.run([sys.executable, "-m", "serving_image"], env=env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "WORKERS: 'zero' is not an integer; use an integer from 1 to 64" in result.stderr
