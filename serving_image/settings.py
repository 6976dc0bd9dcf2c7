"""The serving contract: every environment variable, its default, the port and the HTTP paths, in one place.

The endpoint component renders exactly what this module declares (command, env, port, probe and metrics paths,
user id, writable paths), and the tests import it to hold the two together. Nothing else in the package reads
the environment directly: it asks for a `Settings`, which fails at start-up with a message that names the
variable, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

COMMAND = ("python", "-m", "serving_image")
"""The container command; the image's CMD and the endpoint's rendered command."""

DEFAULT_PORT = 8080
HEALTH_PATH = "/health"
"""Liveness: 200 while the process serves, whatever the model's state."""
READY_PATH = "/ready"
"""Readiness: 200 only once the model is loaded and warmed up; 503 before that and while draining."""
INVOCATIONS_PATH = "/invocations"
"""MLflow's scoring protocol (POST)."""
METRICS_PATH = "/metrics"
"""Prometheus text format, aggregated over all workers."""
VERSION_PATH = "/version"
"""Model name, version and URI, and the server's version (JSON)."""

RUN_AS_UID = 10001
"""Numeric non-root user (and group) of the image; Kubernetes sets runAsUser/runAsGroup/fsGroup to it."""
WRITABLE_PATHS = ("/tmp",)
"""The only paths the server writes (model download, metrics files); mount an emptyDir at each when the root
filesystem is read-only."""

ACCESS_LOG_MODES = ("all", "errors", "off")
MICRO_BATCHING_MODES = ("auto", "on", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting has a value the server cannot run with; the message names the variable, value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """One environment variable of the contract."""

    name: str
    default: str
    meaning: str


def _env(name: str, default: str, meaning: str) -> Any:
    return dataclasses.field(metadata={"env": EnvVar(name, default, meaning)})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The server's configuration, read once from the environment."""

    model_uri: str = _env(
        "MODEL_URI", "", "MLflow model URI: models:/name@alias, models:/name/3, runs:/id/path, s3://, gs://, "
        "wasbs://, or a local path (required; `--model-uri` overrides)")
    model_name: str = _env(
        "MODEL_NAME", "", "Model name for metrics and /version when the URI names no registered model")
    model_version: str = _env(
        "MODEL_VERSION", "", "Model version for metrics and /version when the URI names no registered model")
    host: str = _env("HOST", "0.0.0.0", "Address to listen on")
    port: int = _env("PORT", str(DEFAULT_PORT), "TCP port of the HTTP API")
    workers: int = _env("WORKERS", "2", "Worker processes, each with its own copy of the model (1 to 64)")
    max_request_bytes: int = _env(
        "MAX_REQUEST_BYTES", "10485760", "Largest accepted request body in bytes; larger bodies get 413")
    drain_delay_seconds: float = _env(
        "DRAIN_DELAY_SECONDS", "5", "After SIGTERM: seconds the server stays up, not ready (503 on /ready) but "
        "still answering, so load balancers stop sending before it stops accepting connections")
    drain_timeout_seconds: float = _env(
        "DRAIN_TIMEOUT_SECONDS", "20", "After the delay: longest wait for in-flight requests before exit; "
        "set terminationGracePeriodSeconds above delay + timeout")
    micro_batching: str = _env(
        "MICRO_BATCHING", "auto", "Merge concurrent requests into one predict call: auto (on when the native "
        "model is measurably vectorised at warm-up), on, off")
    micro_batch_max_rows: int = _env("MICRO_BATCH_MAX_ROWS", "512", "Most rows merged into one predict call")
    micro_batch_max_wait_ms: float = _env(
        "MICRO_BATCH_MAX_WAIT_MS", "0", "Extra wait for more requests before a batch is predicted; 0 takes only "
        "what arrived while the previous predict ran, so an idle server adds no latency")
    drift_window_rows: int = _env(
        "DRIFT_WINDOW_ROWS", "2000", "Recent input rows per worker that the drift scores are computed over")
    drift_interval_seconds: float = _env(
        "DRIFT_INTERVAL_SECONDS", "15", "Seconds between drift score updates")
    load_retry_max_seconds: float = _env(
        "LOAD_RETRY_MAX_SECONDS", "60", "Longest back-off between attempts to load a model that failed to load")
    access_log: str = _env(
        "ACCESS_LOG", "all", "One JSON line per request: all (probe and scrape successes excepted), errors, off")
    log_level: str = _env("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR")
    runtime_dir: str = _env(
        "RUNTIME_DIR", "/tmp/serving-image", "State the workers share: metrics files (metrics/, which the server "
        "sets as PROMETHEUS_MULTIPROC_DIR) and readiness markers (ready/); emptied at start; must be writable")
    model_download_dir: str = _env(
        "MODEL_DOWNLOAD_DIR", "/tmp/serving-image-models", "Where remote models are downloaded; must be writable")

    @property
    def metrics_dir(self) -> str:
        return os.path.join(self.runtime_dir, "metrics")

    @property
    def readiness_dir(self) -> str:
        return os.path.join(self.runtime_dir, "ready")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise `SettingsError` on the first bad one."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            var: EnvVar = field.metadata["env"]
            raw = environ.get(var.name, var.default).strip()
            values[field.name] = _PARSERS[field.name](var.name, raw)
        return cls(**values)


def environment_variables() -> tuple[EnvVar, ...]:
    """Every variable of the contract, in documentation order."""
    return tuple(field.metadata["env"] for field in dataclasses.fields(Settings))


def _text(name: str, raw: str) -> str:
    return raw


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: {raw!r} is not an integer; use an integer from {low} to {high}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}: {value} is out of range; use an integer from {low} to {high}")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}: {raw!r} is not a number; use seconds from {low:g} to {high:g}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}: {raw} is out of range; use seconds from {low:g} to {high:g}")
        return value

    return parse


def _choice(allowed: tuple[str, ...], fold: Callable[[str], str] = str.lower) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = fold(raw)
        if value not in allowed:
            raise SettingsError(f"{name}: {raw!r} is not allowed; use one of {', '.join(allowed)}")
        return value

    return parse


def _milliseconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a number; use milliseconds from 0 to 1000") from None
    if not 0 <= value <= 1000:
        raise SettingsError(f"{name}: {raw} is out of range; use milliseconds from 0 to 1000")
    return value


def _directory(name: str, raw: str) -> str:
    if not os.path.isabs(raw):
        raise SettingsError(f"{name}: {raw!r} is not an absolute path; use an absolute directory path")
    return raw


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "model_uri": _text,
    "model_name": _text,
    "model_version": _text,
    "host": _text,
    "port": _integer(1, 65535),
    "workers": _integer(1, 64),
    "max_request_bytes": _integer(1024, 1 << 31),
    "drain_delay_seconds": _seconds(0, 600),
    "drain_timeout_seconds": _seconds(0, 3600),
    "micro_batching": _choice(MICRO_BATCHING_MODES),
    "micro_batch_max_rows": _integer(1, 1_000_000),
    "micro_batch_max_wait_ms": _milliseconds,
    "drift_window_rows": _integer(10, 1_000_000),
    "drift_interval_seconds": _seconds(0.05, 3600),
    "load_retry_max_seconds": _seconds(0.1, 3600),
    "access_log": _choice(ACCESS_LOG_MODES),
    "log_level": _choice(LOG_LEVELS, str.upper),
    "runtime_dir": _directory,
    "model_download_dir": _directory,
}
