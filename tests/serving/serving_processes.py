"""Real server processes for the serving tests: ours (`python -m serving_image`) and MLflow's, on 127.0.0.1.

Every wait is a bounded poll of an HTTP endpoint; every process is stopped (SIGTERM, then SIGKILL after a bound)
when its fixture ends, and its output is kept in a log file that failing tests print.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = "application/json",
         timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request with exactly the headers given; returns status, body and (lower-cased) headers."""
    parts = urllib.parse.urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {} if content_type is None else {"Content-Type": content_type}
        connection.request(method, parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), {key.lower(): value for key, value in response.getheaders()}
    finally:
        connection.close()


def post_json(url: str, document: object, timeout: float = 30) -> tuple[int, object]:
    status, body, _ = http("POST", url, orjson.dumps(document), timeout=timeout)
    return status, orjson.loads(body) if body else None


class ServerProcess:
    """A server started as a child process, with its log in `log_path`."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, log_path: Path):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_until(self, path: str, status: int = 200, timeout: float = 90) -> None:
        """Poll `path` until it answers `status`; fail with the server's log after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()[-6000:]}")
            try:
                if http("GET", self.url(path), timeout=2)[0] == status:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{path} did not answer {status} within {timeout}s:\n{self.log()[-6000:]}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


def serving_image_env(model_uri: str, port: int, tmp: Path, **overrides: str) -> dict[str, str]:
    """Environment for our server: test-friendly drain and drift timings, files under `tmp`."""
    env = dict(os.environ)
    env.update({
        "MODEL_URI": model_uri, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "1",
        "RUNTIME_DIR": str(tmp / "runtime"), "MODEL_DOWNLOAD_DIR": str(tmp / "models"),
        "DRAIN_DELAY_SECONDS": "0", "DRAIN_TIMEOUT_SECONDS": "10", "LOAD_RETRY_MAX_SECONDS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    })
    env.update(overrides)
    return env


def start_serving_image(model_uri: str, tmp: Path, **overrides: str) -> ServerProcess:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    return ServerProcess([sys.executable, "-m", "serving_image"], serving_image_env(model_uri, port, tmp, **overrides),
                         port, tmp / "server.log")


def start_mlflow_models_serve(model_uri: str, tmp: Path, workers: int = 1) -> ServerProcess:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return ServerProcess(command, dict(os.environ), port, tmp / "mlflow-models-serve.log")
