"""Starting the server: the metrics directory, then uvicorn with one process per worker.

uvicorn's own supervisor runs the workers (restarting any that dies) when WORKERS > 1, all accepting on one
shared socket; with WORKERS=1 the single worker is the process itself. On SIGTERM the supervisor passes the
signal to every worker, and each drains (see `serving_image.draining`) before the process exits.
"""

from __future__ import annotations

import os
import shutil

from serving_image.settings import Settings


def prepare_runtime_dir(settings: Settings) -> None:
    """Empty the directory the workers share (metrics files or readiness markers of an earlier run would count)
    and point prometheus-client at its metrics/; must run before anything imports prometheus_client."""
    if os.path.isdir(settings.runtime_dir):
        for entry in os.scandir(settings.runtime_dir):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    os.makedirs(settings.metrics_dir, exist_ok=True)
    os.makedirs(settings.readiness_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir


NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread pools of numpy's BLAS and OpenMP: one thread per worker unless the deployment says otherwise."""


def limit_native_threads() -> None:
    """Parallelism comes from the worker processes; a BLAS pool per worker sized to every core would have the
    workers' spinning threads fight over the same cores and turn into long tail latencies."""
    for variable in NATIVE_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; returns after every worker has drained."""
    prepare_runtime_dir(settings)
    limit_native_threads()
    import uvicorn

    from serving_image.json_logging import configure_logging

    configure_logging(settings.log_level)
    uvicorn.run(
        "serving_image.http_app:create_app", factory=True,
        host=settings.host, port=settings.port, workers=settings.workers,
        loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_config=None, server_header=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds + 0.999),
        timeout_keep_alive=30,
    )
