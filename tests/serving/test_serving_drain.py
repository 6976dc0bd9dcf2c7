"""On SIGTERM the server turns not-ready at once, answers every request already in flight, then exits in time."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from model_factory import FEATURES, save_slow_model
from serving_processes import http, post_json, start_serving_image

pytestmark = pytest.mark.slow  # starts real server processes

SLOW_ROW = {"dataframe_split": {"columns": FEATURES, "data": [[12345.0] + [0.0] * (len(FEATURES) - 1)]}}
PREDICT_SECONDS = 0.5
IN_FLIGHT = 6


def test_sigterm_drains_in_flight_requests_then_exits(tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    model = save_slow_model(tmp_path / "slow", PREDICT_SECONDS, started)
    server = start_serving_image(str(model), tmp_path / "server", WORKERS="2", DRAIN_DELAY_SECONDS="1",
                                 DRAIN_TIMEOUT_SECONDS="20")
    try:
        server.wait_until("/ready")
        with ThreadPoolExecutor(IN_FLIGHT) as clients:
            answers = [clients.submit(post_json, server.url("/invocations"), SLOW_ROW, 60) for _ in range(IN_FLIGHT)]
            deadline = time.monotonic() + 20
            while not os.listdir(started) and time.monotonic() < deadline:  # a predict has begun
                time.sleep(0.02)
            assert os.listdir(started), server.log()
            signalled = time.monotonic()
            server.process.send_signal(15)

            server.wait_until("/ready", status=503, timeout=5)  # not ready, but still answering during the delay
            assert http("GET", server.url("/health"))[0] == 200
            results = [answer.result(timeout=60) for answer in answers]
        assert [status for status, _ in results] == [200] * IN_FLIGHT
        assert all(payload == {"predictions": [0.0]} for _, payload in results)
        server.process.wait(30)
        elapsed = time.monotonic() - signalled
        # Each worker runs its share one after another: at most IN_FLIGHT predicts, plus the delay, plus slack.
        assert elapsed < 1 + IN_FLIGHT * PREDICT_SECONDS + 5
        assert "SIGTERM: not ready; draining" in server.log()
    finally:
        server.stop()
