"""Loading the model in the background, retrying with back-off, so the process serves /health from the start.

A model that cannot be loaded (registry down, wrong URI, missing credentials, a broken pickle) never stops the
process: /ready stays 503 with the reason, the log says why on every attempt, and the next attempt comes after
1, 2, 4, ... seconds, at most LOAD_RETRY_MAX_SECONDS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from serving_image.model_source import ModelIdentity, local_model_path, resolve_identity
from serving_image.servable_model import ServableModel
from serving_image.settings import Settings

_log = logging.getLogger(__name__)


class ModelLoader:
    """Loads the configured model on a daemon thread and hands each stage's result to callbacks."""

    def __init__(self, settings: Settings, *, on_identity: Callable[[ModelIdentity], None],
                 on_loaded: Callable[[ServableModel], None], on_failure: Callable[[str], None]):
        self._settings = settings
        self._on_identity = on_identity
        self._on_loaded = on_loaded
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._load_until_done, name="model-loader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _load_until_done(self) -> None:
        settings = self._settings
        delay = 1.0
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            try:
                identity = resolve_identity(settings.model_uri, settings.model_name, settings.model_version)
                self._on_identity(identity)
                path = local_model_path(identity, settings.model_download_dir)
                model = ServableModel(identity, path)
            except Exception as error:  # any failure to load is retried; the process stays up and not ready
                reason = f"{type(error).__name__}: {error}".strip()
                _log.error("model load failed; retrying", extra={
                    "model_uri": settings.model_uri, "attempt": attempt, "retry_in_seconds": delay, "reason": reason})
                self._on_failure(reason)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, settings.load_retry_max_seconds)
                continue
            _log.info("model loaded", extra={
                "model_uri": settings.model_uri, "model_name": identity.name, "model_version": identity.version,
                "flavor": model.flavor, "attempt": attempt})
            self._on_loaded(model)
            return
