"""The repository's workflow files, read as data for the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"
SELF_REPOSITORY = "$/"
"""GitHub's prefix for an action in the workflow's own repository."""


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def local_action(uses: str) -> dict[str, Any]:
    """The composite action a ``$/.github/actions/NAME`` step runs."""
    return yaml.safe_load((ROOT / uses.removeprefix(SELF_REPOSITORY) / "action.yml").read_text())


def strings(value: Any) -> Iterator[str]:
    """Every string in a YAML value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def job_with_its_actions(job: dict[str, Any]) -> list[Any]:
    """A job and every local composite action its steps use (what the job's runner actually executes)."""
    parts: list[Any] = [job]
    for step in job.get("steps", []):
        uses = step.get("uses", "")
        if uses.startswith(SELF_REPOSITORY):
            parts.append(local_action(uses))
    return parts
