"""Shared fixtures: offline previews of the project's stacks, and the reference data in ../shared/reference."""

from __future__ import annotations

import os
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
def preview() -> Callable[[str], Preview]:
    """``preview("aws-dev")`` runs infra/ offline with stacks/Pulumi.aws-dev.yaml (cached per stack)."""
    cache: dict[str, Preview] = {}

    def run(stack: str) -> Preview:
        if stack not in cache:
            cache[stack] = preview_stack(PROJECT_ROOT, stack)
        return cache[stack]

    return run
