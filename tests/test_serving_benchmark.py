"""The serving benchmark is self-contained: run with the venv's interpreter but without the venv's bin on PATH,
both servers it compares still start (``mlflow models serve`` needs its uvicorn console script)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from benchmarks.serving_benchmark import server_process
from tests.kubernetes.live_services import free_port, wait_for_http

pytestmark = pytest.mark.slow  # starts a real mlflow models serve

sys.path.insert(0, str(Path(__file__).parent / "serving"))
from model_factory import save_logistic_regression  # noqa: E402


def test_mlflow_models_serve_starts_without_the_venv_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")  # as `.venv/bin/python benchmarks/...` sees it
    model = save_logistic_regression(tmp_path / "model")
    port = free_port()
    command, env, ready_path = server_process("mlflow", str(model), 1, port, tmp_path)
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_http(f"http://127.0.0.1:{port}{ready_path}", 180, process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=10) as answer:
                assert answer.status == 200
        finally:
            process.terminate()
            process.wait(timeout=30)
