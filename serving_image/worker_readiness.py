"""Readiness shared by all workers: the pod is ready only when every worker has its model loaded.

Each worker loads the model on its own, and a probe reaches whichever worker accepts it; without a shared view a
pod would turn ready on its first loaded worker and then answer 503 from the others. Each worker therefore
leaves a marker file named by its pid in a directory they share, and /ready counts the markers of live
processes against WORKERS (a worker that died and was replaced does not count until its successor is loaded).
"""

from __future__ import annotations

import os


class WorkerReadiness:
    def __init__(self, directory: str, expected_workers: int):
        self._directory = directory
        self._expected = expected_workers
        self._marker = os.path.join(directory, f"ready-{os.getpid()}")

    def mark_ready(self) -> None:
        os.makedirs(self._directory, exist_ok=True)
        with open(self._marker, "w", encoding="utf-8"):
            pass

    def mark_not_ready(self) -> None:
        try:
            os.unlink(self._marker)
        except FileNotFoundError:
            pass

    def ready_workers(self) -> int:
        try:
            names = os.listdir(self._directory)
        except FileNotFoundError:
            return 0
        return sum(1 for name in names if name.startswith("ready-") and _alive(int(name[len("ready-"):])))

    def all_ready(self) -> bool:
        return self.ready_workers() >= self._expected


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
