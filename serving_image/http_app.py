"""The HTTP API, as a plain ASGI application: /health, /ready, /invocations, /metrics, /version.

It is written against ASGI directly rather than a web framework because /invocations is the hot path of every
endpoint and five fixed routes need no router: each request costs one dict lookup, one body read and one send.
Every failure a client can cause ends in a 4xx with a JSON body naming what was wrong; a model failure ends in a
500 with the model's error; neither reaches the event loop, so nothing a request does can stop the process.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from serving_image import __version__, metrics
from serving_image.draining import install_drain_on_sigterm
from serving_image.drift_monitor import DriftMonitor
from serving_image.json_logging import configure_logging
from serving_image.micro_batching import ArrayPredictor
from serving_image.model_loading import ModelLoader
from serving_image.model_source import ModelIdentity
from serving_image.scoring_errors import ScoringError, not_ready, prediction_failed, request_too_large
from serving_image.scoring_request import media_type_of, parse_request
from serving_image.servable_model import ON_LOOP_SECONDS, ServableModel, encode_predictions
from serving_image.settings import (
    HEALTH_PATH,
    INVOCATIONS_PATH,
    METRICS_PATH,
    READY_PATH,
    VERSION_PATH,
    Settings,
)
from serving_image.worker_readiness import WorkerReadiness

_log = logging.getLogger("serving_image.requests")
_JSON = (b"content-type", b"application/json")
_QUIET_PATHS = frozenset((HEALTH_PATH, READY_PATH, METRICS_PATH))
"""Probe and scrape paths: never logged (a 503 from /ready while loading or draining is expected)."""


class ServingApp:
    """One worker's server: its model (once loaded), predictor, drift monitor and metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model: ServableModel | None = None
        self.identity: ModelIdentity | None = None
        self.not_ready_reason = "the model is loading"
        self.draining = False
        self._metrics: metrics.ModelMetrics | None = None
        self._predictor: ArrayPredictor | None = None
        self._drift: DriftMonitor | None = None
        self._readiness = WorkerReadiness(settings.readiness_dir, settings.workers)
        self._generic_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyfunc")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loader: ModelLoader | None = None
        self._drift_task: asyncio.Task | None = None
        self._routes = {
            (b"GET", HEALTH_PATH): self._health, (b"GET", READY_PATH): self._ready,
            (b"POST", INVOCATIONS_PATH): self._invocations, (b"GET", METRICS_PATH): self._metrics_page,
            (b"GET", VERSION_PATH): self._version,
        }
        self._paths = {path for _, path in self._routes}

    @property
    def ready(self) -> bool:
        return self.model is not None and not self.draining

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # --- lifespan -------------------------------------------------------------------------------------------

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        install_drain_on_sigterm(self._loop, self.settings.drain_delay_seconds, self._begin_draining)
        self._loader = ModelLoader(self.settings, on_identity=self._identity_known,
                                   on_loaded=self._loaded_from_thread, on_failure=self._failed)
        self._loader.start()
        self._drift_task = self._loop.create_task(self._publish_drift_forever(), name="drift-scores")

    async def _stop(self) -> None:
        self._loader.stop()
        self._drift_task.cancel()
        if self._predictor is not None:
            await self._predictor.close()
        self._generic_executor.shutdown(wait=False)
        if self._metrics is not None:
            self._metrics.loaded.set(0)
        self._readiness.mark_not_ready()
        metrics.forget_this_process()

    def _begin_draining(self) -> None:
        self.draining = True
        self._readiness.mark_not_ready()
        self.not_ready_reason = "the server is draining before shutdown"

    def _identity_known(self, identity: ModelIdentity) -> None:
        self.identity = identity
        self._metrics = metrics.ModelMetrics(identity.name, identity.version)
        self._metrics.loaded.set(0)

    def _failed(self, reason: str) -> None:
        self.not_ready_reason = f"the model failed to load ({reason}); retrying"

    def _loaded_from_thread(self, model: ServableModel) -> None:
        self._loop.call_soon_threadsafe(self._loaded, model)

    def _loaded(self, model: ServableModel) -> None:
        settings = self.settings
        native = model.native
        if native is not None:
            batching = settings.micro_batching == "on" or (settings.micro_batching == "auto" and native.vectorised)
            self._predictor = ArrayPredictor(
                native.predict, batching=batching, on_loop=native.single_row_seconds < ON_LOOP_SECONDS,
                max_rows=settings.micro_batch_max_rows, max_wait_seconds=settings.micro_batch_max_wait_ms / 1000)
        if model.references:
            self._drift = DriftMonitor(model.references, settings.drift_window_rows,
                                       native.layout.columns if native else None)
        self.model = model
        # Loading MLflow, pandas and the model leaves millions of long-lived objects; a full collection scanning
        # them would pause every request in flight for tens of milliseconds. Freezing moves them out of the
        # collector's sight, so the request path only ever pays for its own short-lived garbage.
        gc.collect()
        gc.freeze()
        if not self.draining:
            self.not_ready_reason = ""
        self._metrics.loaded.set(1)
        if not self.draining:
            self._readiness.mark_ready()
        logging.getLogger(__name__).info("ready", extra={
            "native_path": native is not None, "micro_batching": bool(self._predictor and self._predictor.batching),
            "predict_on_event_loop": bool(self._predictor and self._predictor.on_loop),
            "drift_features": len(self._drift.features) if self._drift else 0})

    async def _publish_drift_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.drift_interval_seconds)
            if self._drift is not None:
                try:
                    self._metrics.set_drift(self._drift.scores())
                except Exception:  # a scoring bug must not end the loop that publishes later scores
                    logging.getLogger(__name__).exception("drift scoring failed")

    # --- HTTP -----------------------------------------------------------------------------------------------

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        path = scope["path"]
        handler = self._routes.get((scope["method"].encode(), path))
        rows = 0
        try:
            if handler is None:
                raise self._no_route(scope["method"], path)
            status, headers, body, rows = await handler(scope, receive)
        except ScoringError as error:
            status, headers, body = error.status, [_JSON], error.body()
        except Exception as error:  # a bug of ours: answer 500 and keep serving
            logging.getLogger(__name__).exception("request failed")
            failure = prediction_failed(error)
            status, headers, body = 500, [_JSON], failure.body()
        headers.append((b"content-length", str(len(body)).encode()))
        if status == 413:
            headers.append((b"connection", b"close"))  # the rest of the body may be unread: never reuse the connection
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - started
        if path == INVOCATIONS_PATH and self._metrics is not None:
            self._metrics.count(status, seconds, rows)
        self._log_request(scope["method"], path, status, seconds, rows)

    def _no_route(self, method: str, path: str) -> ScoringError:
        if path in self._paths:
            allowed = sorted(m.decode() for m, p in self._routes if p == path)
            return ScoringError(405, "METHOD_NOT_ALLOWED", f"{method} {path} is not allowed; use {', '.join(allowed)}")
        return ScoringError(404, "NOT_FOUND", f"{path} does not exist; the paths are {', '.join(sorted(self._paths))}")

    def _log_request(self, method: str, path: str, status: int, seconds: float, rows: int) -> None:
        mode = self.settings.access_log
        if mode == "off" or path in _QUIET_PATHS or (status < 400 and mode == "errors"):
            return
        _log.info("request", extra={"method": method, "path": path, "status": status,
                                     "duration_ms": round(seconds * 1e3, 3), "rows": rows})

    async def _health(self, scope: dict[str, Any], receive: Any) -> tuple:
        return 200, [_JSON], b'{"status":"alive"}', 0

    async def _ready(self, scope: dict[str, Any], receive: Any) -> tuple:
        if self.ready:
            ready_workers = self._readiness.ready_workers()
            if ready_workers >= self.settings.workers:
                return 200, [_JSON], b'{"status":"ready"}', 0
            return 503, [_JSON], orjson.dumps({"status": "loading", "reason": (
                f"{ready_workers} of {self.settings.workers} workers have the model loaded")}), 0
        state = "draining" if self.draining else "loading"
        return 503, [_JSON], orjson.dumps({"status": state, "reason": self.not_ready_reason}), 0

    async def _version(self, scope: dict[str, Any], receive: Any) -> tuple:
        identity = self.identity
        model = self.model
        document = {
            "model_name": identity.name if identity else self.settings.model_name or None,
            "model_version": identity.version if identity else self.settings.model_version or None,
            "model_uri": self.settings.model_uri,
            "resolved_model_uri": identity.load_uri if identity else None,
            "flavor": model.flavor if model else None,
            "native_predict": bool(model and model.native),
            "micro_batching": bool(self._predictor and self._predictor.batching),
            "drift_features": len(self._drift.features) if self._drift else 0,
            "server_version": __version__,
        }
        return 200, [_JSON], orjson.dumps(document), 0

    async def _metrics_page(self, scope: dict[str, Any], receive: Any) -> tuple:
        return 200, [(b"content-type", metrics.CONTENT_TYPE.encode())], metrics.render_metrics(), 0

    async def _invocations(self, scope: dict[str, Any], receive: Any) -> tuple:
        model = self.model
        if model is None:
            raise not_ready(self.not_ready_reason)
        media_type = media_type_of(_header(scope, b"content-type"))
        body = await _read_body(scope, receive, self.settings.max_request_bytes)
        request = parse_request(body, media_type, model.native.layout if model.native else None)
        if request.array is not None:
            try:
                predictions = await self._predictor.predict(request.array)
            except Exception as error:  # the model's own failure
                raise prediction_failed(error) from error
            if len(predictions) != request.array.shape[0]:
                raise prediction_failed(ValueError(
                    f"the model returned {len(predictions)} predictions for {request.array.shape[0]} rows"))
            if self._drift is not None:
                self._drift.record_array(request.array)
            return 200, [_JSON], encode_predictions(predictions), request.array.shape[0]
        result = await self._loop.run_in_executor(self._generic_executor, model.predict_generic, request)
        if self._drift is not None:
            self._drift.record_frame(result.frame)
        return 200, [_JSON], result.body, result.rows


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


DISCARD_BYTES = 64 * 2**20
"""How much of a too-large body the server reads and throws away before it answers 413. A client that writes its
whole body before reading (Python's urllib, most SDKs) gets a connection reset instead of the answer when the
server closes a socket with unread data in it; draining what is left lets it read the 413. Bounded, so an
oversized body costs at most this much reading; beyond it the server answers at once and closes."""
DISCARD_SECONDS = 10.0
"""The longest the server keeps draining a too-large body (a slow client cannot hold a worker)."""


async def _read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        if int(declared) <= limit + DISCARD_BYTES:
            await _discard_body(receive, int(declared))
        raise request_too_large(limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ScoringError(400, "BAD_REQUEST", "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            if message.get("more_body", False):
                await _discard_body(receive, DISCARD_BYTES)
            raise request_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _discard_body(receive: Any, budget: int) -> None:
    """Read and drop the rest of the request body: at most ``budget`` bytes, for at most ``DISCARD_SECONDS``."""

    async def drain() -> None:
        left = budget
        while left > 0:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(drain(), DISCARD_SECONDS)
    except TimeoutError:
        pass  # answered anyway; the server closes the connection


def create_app() -> ServingApp:
    """The ASGI application of one worker, configured from the environment (uvicorn's factory)."""
    settings = Settings.from_environ()
    configure_logging(settings.log_level)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != settings.metrics_dir:
        raise RuntimeError("serving_image.server must set PROMETHEUS_MULTIPROC_DIR before the app is imported")
    return ServingApp(settings)
