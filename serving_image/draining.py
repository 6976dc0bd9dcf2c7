"""Graceful drain on SIGTERM: turn not-ready, keep answering for a while, then stop and finish in-flight work.

uvicorn on its own stops accepting connections the moment SIGTERM arrives, while Kubernetes is still removing the
pod from its Service's endpoints, so some new requests would be refused. We put a step in front: readiness turns
503 at once, the server keeps answering for DRAIN_DELAY_SECONDS, and only then does uvicorn's own graceful
shutdown run (stop accepting, let every in-flight request finish, for at most DRAIN_TIMEOUT_SECONDS). A second
SIGTERM skips the rest of the delay.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

_log = logging.getLogger(__name__)


def install_drain_on_sigterm(loop: asyncio.AbstractEventLoop, delay_seconds: float,
                             begin_draining: Callable[[], None]) -> bool:
    """Wrap the current SIGTERM handler (uvicorn's) so that draining comes first; False off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    stop_server = signal.getsignal(signal.SIGTERM)
    if not callable(stop_server):
        return False
    draining = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal draining
        if draining:
            stop_server(signum, frame)
            return
        draining = True
        begin_draining()
        _log.info("SIGTERM: not ready; draining", extra={"drain_delay_seconds": delay_seconds})
        loop.call_soon_threadsafe(loop.call_later, delay_seconds, stop_server, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
