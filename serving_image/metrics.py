"""The server's Prometheus metrics, shared by all worker processes through prometheus-client's multiprocess mode.

PROMETHEUS_MULTIPROC_DIR must be set before this module is first imported (`serving_image.server` does that);
each worker writes its own memory-mapped files there and /metrics, answered by any worker, sums them up.

| metric | type | labels |
|---|---|---|
| ml_predictions_total | counter | model_name, model_version, status (success, client_error, server_error) |
| ml_prediction_duration_seconds | histogram | model_name, model_version |
| ml_prediction_rows_total | counter | model_name, model_version |
| ml_model_loaded | gauge, 1 when every live worker has the model loaded | model_name, model_version |
| ml_data_drift_score | gauge, PSI, the highest over live workers | model_name, model_version, feature |
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""Content-Type of the /metrics page."""

SUCCESS, CLIENT_ERROR, SERVER_ERROR = "success", "client_error", "server_error"
DURATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""From 100 microseconds (a small model's native predict) to 5 seconds."""

_IDENTITY = ("model_name", "model_version")

PREDICTIONS = Counter("ml_predictions", "Scoring requests answered, by outcome.", (*_IDENTITY, "status"))
PREDICTION_DURATION = Histogram(
    "ml_prediction_duration_seconds", "Time from a scoring request's body being read to its answer being ready.",
    _IDENTITY, buckets=DURATION_BUCKETS)
PREDICTION_ROWS = Counter("ml_prediction_rows", "Input rows scored successfully.", _IDENTITY)
MODEL_LOADED = Gauge(
    "ml_model_loaded", "1 when the model is loaded and warmed up in every live worker, else 0.", _IDENTITY,
    multiprocess_mode="livemin")
DATA_DRIFT_SCORE = Gauge(
    "ml_data_drift_score", "Population stability index of recent inputs against the training data, per feature.",
    (*_IDENTITY, "feature"), multiprocess_mode="livemax")


class ModelMetrics:
    """The metric series of one model identity, bound once so the request path does no label lookups."""

    def __init__(self, model_name: str, model_version: str):
        self._identity = (model_name, model_version)
        self.success = PREDICTIONS.labels(model_name, model_version, SUCCESS)
        self.client_error = PREDICTIONS.labels(model_name, model_version, CLIENT_ERROR)
        self.server_error = PREDICTIONS.labels(model_name, model_version, SERVER_ERROR)
        self.duration = PREDICTION_DURATION.labels(model_name, model_version)
        self.rows = PREDICTION_ROWS.labels(model_name, model_version)
        self.loaded = MODEL_LOADED.labels(model_name, model_version)

    def count(self, status: int, seconds: float, rows: int) -> None:
        """Record one scoring request that ended with HTTP `status`."""
        if status < 400:
            self.success.inc()
            self.rows.inc(rows)
        elif status < 500:
            self.client_error.inc()
        else:
            self.server_error.inc()
        self.duration.observe(seconds)

    def set_drift(self, scores: dict[str, float]) -> None:
        for feature, score in scores.items():
            DATA_DRIFT_SCORE.labels(*self._identity, feature).set(score)


def render_metrics() -> bytes:
    """Every worker's metrics, aggregated, in the Prometheus text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_this_process() -> None:
    """Drop this worker's live gauges from the aggregate; call it when the worker exits."""
    multiprocess.mark_process_dead(os.getpid())
