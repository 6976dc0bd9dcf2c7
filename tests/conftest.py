"""Shared fixtures: offline previews of the project's stacks, and the reference data in ../shared/reference."""

from __future__ import annotations

import fcntl
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_platform_offline.harness import Preview, preview_stack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ENV = "MLOPS_REFERENCE_DIR"

# Servers the tests start (mlflow, uvicorn, the policy pack) find this environment's console scripts, as they would
# in an activated virtualenv, even when pytest runs as `.venv/bin/python -m pytest` without activation.
_ENVIRONMENT_BIN = str(Path(sys.executable).parent)
if _ENVIRONMENT_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _ENVIRONMENT_BIN + os.pathsep + os.environ.get("PATH", "")


def reference_dir() -> Path | None:
    """Upstream reference data (chart values, CRD schemas, checkov fixtures): ``$MLOPS_REFERENCE_DIR``, else
    ``../shared/reference`` beside the checkout. None when neither exists."""
    candidates = [os.environ.get(REFERENCE_ENV), PROJECT_ROOT.parent / "shared" / "reference"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def reference() -> Path:
    found = reference_dir()
    if found is None:
        pytest.skip(f"reference data not found: set {REFERENCE_ENV} or place it at ../shared/reference")
    return found


@pytest.fixture(scope="session")
def preview(tmp_path_factory) -> Callable[[str], Preview]:
    """``preview("aws-dev")`` runs infra/ offline with stacks/Pulumi.aws-dev.yaml, once per stack and test run: the
    pytest-xdist workers share each preview through a file in their common temporary directory."""
    cache: dict[str, Preview] = {}
    shared = tmp_path_factory.getbasetemp().parent / "previews" if os.environ.get("PYTEST_XDIST_WORKER") else None

    def run(stack: str) -> Preview:
        if stack not in cache:
            cache[stack] = preview_stack(PROJECT_ROOT, stack) if shared is None else _shared_preview(shared, stack)
        return cache[stack]

    return run


def _shared_preview(directory: Path, stack: str) -> Preview:
    directory.mkdir(exist_ok=True)
    with open(directory / f"{stack}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker previews; the others wait and read its result
        stored = directory / f"{stack}.pickle"
        if stored.exists():
            return pickle.loads(stored.read_bytes())
        result = preview_stack(PROJECT_ROOT, stack)
        stored.write_bytes(pickle.dumps(result))
        return result
