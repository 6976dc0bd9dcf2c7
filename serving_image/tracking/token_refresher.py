"""The database token refresher: keeps a short-lived database credential where libpq reads a password.

Runs as a native sidecar (``python -m serving_image.tracking.token_refresher``) next to every container that opens
a PostgreSQL connection. It obtains a credential from a token source (``token_sources.SOURCES``; on AWS an RDS IAM
token through the pod's IRSA role), writes it as the password line of a ``PGPASSFILE`` (mode 0600, replaced
atomically, on an in-memory volume) that libpq reads at every new connection, and refreshes it every
``MLOPS_DB_REFRESH_SECONDS`` or once a third of its life is gone, whichever comes first. When the source fails, the
last good credential stays in place and the refresher retries with a growing delay; established connections are
never touched.

Health, on ``MLOPS_DB_HEALTH_PORT``: ``/readyz`` answers 200 while the pass file holds a credential that has not
expired (the startup probe, so the workload starts only once it exists), ``/livez`` 200 while the refresh loop runs.
Each refresh is logged as one JSON line, without the credential.

Environment: ``MLOPS_DB_TOKEN_SOURCE``, ``MLOPS_DB_HOST``, ``MLOPS_DB_PORT``, ``MLOPS_DB_USER``,
``MLOPS_DB_PASSFILE``, ``MLOPS_DB_REFRESH_SECONDS`` (default 300), ``MLOPS_DB_HEALTH_PORT`` (default 8087),
``MLOPS_DB_HEALTH_ADDRESS`` (default ``0.0.0.0``: the kubelet probes the pod IP),
``MLOPS_DB_RETRY_SECONDS`` (first retry delay, default 5, doubling up to 60), plus the source's own settings.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from serving_image.tracking.token_sources import DatabaseTarget, SourceError, Token, TokenSource, load_source

EXPIRY_MARGIN_SECONDS = 30
"""A credential this close to its expiry no longer counts as ready: a connection opened now could outlive it."""
MAX_RETRY_SECONDS = 60
STUCK_FETCH_SECONDS = 120
"""A fetch running longer than this makes ``/livez`` fail, so the kubelet restarts a hung refresher."""


@dataclass(frozen=True)
class RefresherSettings:
    source: str
    target: DatabaseTarget
    passfile: Path
    refresh_seconds: float
    retry_seconds: float
    health_port: int
    health_address: str = "0.0.0.0"


def read_settings(env: Mapping[str, str]) -> RefresherSettings:
    """The refresher's settings; a missing or malformed variable is a one-line ``SourceError``."""

    def number(key: str, default: str, low: float, high: float) -> float:
        text = env.get(key, default)
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise SourceError(f"{key}: {text!r} is not allowed; use a number from {low:g} to {high:g}")
        return value

    def text(key: str, meaning: str) -> str:
        value = env.get(key, "").strip()
        if not value:
            raise SourceError(f"{key}: missing; set it to {meaning}")
        return value

    return RefresherSettings(
        source=text("MLOPS_DB_TOKEN_SOURCE", "a token source such as aws-rds-iam"),
        target=DatabaseTarget(host=text("MLOPS_DB_HOST", "the database host libpq connects to"),
                              port=int(number("MLOPS_DB_PORT", "5432", 1, 65535)),
                              user=text("MLOPS_DB_USER", "the database user the credential is for")),
        passfile=Path(text("MLOPS_DB_PASSFILE", "the PGPASSFILE path on the shared in-memory volume")),
        refresh_seconds=number("MLOPS_DB_REFRESH_SECONDS", "300", 1, 3600),
        retry_seconds=number("MLOPS_DB_RETRY_SECONDS", "5", 0.1, MAX_RETRY_SECONDS),
        health_port=int(number("MLOPS_DB_HEALTH_PORT", "8087", 1, 65535)),
        health_address=env.get("MLOPS_DB_HEALTH_ADDRESS", "").strip() or "0.0.0.0",
    )


def passfile_line(target: DatabaseTarget, token: Token) -> str:
    """One pass-file line, ``host:port:database:user:password``, for any database of the target; ``:`` and ``\\``
    escaped as libpq expects (an RDS token contains both ``:`` and ``/``)."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    return ":".join([escape(target.host), str(target.port), "*", escape(target.user), escape(token.value)]) + "\n"


def write_passfile(path: Path, line: str) -> None:
    """Replace ``path`` atomically with a file only its owner may read (libpq ignores a pass file that the group or
    others can read): a reader sees the old credential or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, line.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


class JsonLog:
    """One JSON object per line; nothing passed here ever holds the credential."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, level: str, event: str, **fields: Any) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "event": event, **fields}
        with self.lock:
            self.stream.write(json.dumps(record, sort_keys=True) + "\n")
            self.stream.flush()


class Refresher:
    """The refresh loop's state and one step of it; the loop and the health server share it."""

    def __init__(self, source: TokenSource, settings: RefresherSettings, log: JsonLog,
                 clock: Callable[[], float] = time.time):
        self.source = source
        self.settings = settings
        self.log = log
        self.clock = clock
        self.token: Token | None = None
        self.refreshes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.fetch_started: float | None = None
        self.lock = threading.RLock()

    def ready(self) -> bool:
        with self.lock:
            token = self.token
        if token is None:
            return False
        return token.expires_at is None or self.clock() < token.expires_at - EXPIRY_MARGIN_SECONDS

    def live(self) -> bool:
        started = self.fetch_started
        return started is None or self.clock() - started < STUCK_FETCH_SECONDS

    def status(self) -> dict[str, Any]:
        with self.lock:
            token = self.token
            expires_in = None if token is None or token.expires_at is None else round(token.expires_at - self.clock())
            return {"ready": self.ready(), "refreshes": self.refreshes, "failures": self.failures,
                    "expires_in_seconds": expires_in}

    def refresh(self) -> float:
        """Fetch and write a credential once; return the seconds to wait before the next attempt."""
        settings = self.settings
        self.fetch_started = self.clock()
        try:
            token = self.source.fetch()
            write_passfile(settings.passfile, passfile_line(settings.target, token))
        except Exception as error:  # any failure of the identity provider or the file: keep the last good one
            with self.lock:
                self.failures += 1
                self.consecutive_failures += 1
                delay = min(settings.retry_seconds * 2 ** (self.consecutive_failures - 1), MAX_RETRY_SECONDS)
                kept = self.token
            self.log("warning", "token_refresh_failed", source=settings.source, user=settings.target.user,
                     error=self._describe(error, kept), kept_last_good=kept is not None,
                     retry_in_seconds=round(delay, 1))
            return delay
        finally:
            self.fetch_started = None
        now = self.clock()
        wait = settings.refresh_seconds
        if token.expires_at is not None:
            wait = min(wait, max((token.expires_at - now) / 3, 1.0))
        with self.lock:
            self.token = token
            self.refreshes += 1
            self.consecutive_failures = 0
        self.log("info", "token_refreshed", source=settings.source, user=settings.target.user,
                 host=settings.target.host, refreshes=self.refreshes,
                 expires_in_seconds=None if token.expires_at is None else round(token.expires_at - now),
                 next_refresh_seconds=round(wait, 1))
        return wait

    @staticmethod
    def _describe(error: Exception, kept: Token | None) -> str:
        """The error's type and message, cut short, with any credential the source may have echoed removed."""
        text = f"{type(error).__name__}: {error}"[:500]
        return text.replace(kept.value, "<credential>") if kept is not None and kept.value else text

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.refresh())


def health_server(refresher: Refresher, port: int, address: str = "0.0.0.0") -> ThreadingHTTPServer:
    """``/readyz`` and ``/livez``, by default on all interfaces (the kubelet probes the pod IP)."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
            checks = {"/readyz": refresher.ready, "/livez": refresher.live}
            check = checks.get(self.path)
            if check is None:
                self.send_error(404)
                return
            body = json.dumps(refresher.status()).encode()
            self.send_response(200 if check() else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line
            pass

    server = ThreadingHTTPServer((address, port), Health)
    server.daemon_threads = True
    return server


def main(env: Mapping[str, str] = os.environ) -> int:
    log = JsonLog()
    try:
        settings = read_settings(env)
        source = load_source(settings.source, env, settings.target)
    except SourceError as error:
        print(f"token refresher: {error}", file=sys.stderr)
        return 2
    refresher = Refresher(source, settings, log)
    server = health_server(refresher, settings.health_port, settings.health_address)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log("info", "token_refresher_started", source=settings.source, user=settings.target.user,
        host=settings.target.host, passfile=str(settings.passfile), health_port=settings.health_port)
    loop = threading.Thread(target=refresher.run, args=(stop,), name="refresh", daemon=True)
    loop.start()
    while not stop.wait(1.0):
        if not loop.is_alive():
            log("error", "token_refresher_loop_ended")
            return 1
    server.shutdown()
    log("info", "token_refresher_stopped", refreshes=refresher.refreshes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
