"""One running policy pack for the whole session (starting it costs about a second), driven over gRPC exactly as
the CLI drives it, and helpers that build the resources a preview would record."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from mlops_platform_offline.analyzer import PolicyPackProcess, Violation, reconcile_config
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, UNKNOWN, Preview, RecordedResource

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
PROJECT, STACK = "mlops", "policy-test"
REMOVE = object()
"""A patch value that deletes the key."""


def resource(type_: str, name: str, inputs: Mapping[str, Any], *, protect: bool = False,
             property_dependencies: Mapping[str, tuple[str, ...]] | None = None, provider: str = "") -> RecordedResource:
    return RecordedResource(
        urn=urn_of(type_, name), type=type_, name=name, parent="", provider=provider, custom=True, protect=protect,
        inputs=copy.deepcopy(dict(inputs)), dependencies=tuple(u for us in (property_dependencies or {}).values()
                                                               for u in us),
        property_dependencies=dict(property_dependencies or {}), outputs={},
    )


def urn_of(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def patched(resources: list[RecordedResource], index: int, path: tuple[Any, ...], value: Any) -> list[RecordedResource]:
    """A copy of ``resources`` with the input at ``path`` of resource ``index`` replaced (or removed with REMOVE,
    or the whole resource removed when ``path`` is empty)."""
    result = list(resources)
    if not path:
        del result[index]
        return result
    target = resources[index]
    if path == ("__type__",):
        result[index] = RecordedResource(**{**target.__dict__, "type": value})
        return result
    inputs = copy.deepcopy(target.inputs)
    node = inputs
    for step in path[:-1]:
        if isinstance(step, str) and step not in node:
            node[step] = {}
        node = node[step]
    if value is REMOVE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)
    result[index] = RecordedResource(**{**target.__dict__, "inputs": inputs})
    return result


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG: SECRET_MARKER, "value": value}


class Pack:
    """The running pack, reconfigured only when a test asks for a different config."""

    def __init__(self, process: PolicyPackProcess):
        self.process = process
        self.policies, self.initial = process.info()
        self._config: Any = None

    def configure(self, file_config: Mapping[str, Any] | None = None) -> None:
        wanted = dict(file_config or {})
        if wanted != self._config:
            self.process.configure(reconcile_config(self.policies, self.initial, wanted))
            self._config = wanted

    def analyze(self, resources: Iterable[RecordedResource], file_config: Mapping[str, Any] | None = None,
                providers: Iterable[RecordedResource] = ()) -> list[Violation]:
        self.configure(file_config)
        providers = list(providers)
        preview = Preview(PROJECT, STACK, providers + list(resources), {}, providers={p.urn: p for p in providers})
        return self.process.analyze(preview)

    def violations(self, rule: str, resources: Iterable[RecordedResource], file_config=None, providers=()) -> list[
            Violation]:
        return [v for v in self.analyze(resources, file_config, providers) if v.policy == rule]


@pytest.fixture(scope="session")
def pack() -> Pack:
    with PolicyPackProcess(PACK_DIR, project=PROJECT, stack=STACK) as process:
        yield Pack(process)


__all__ = ["REMOVE", "UNKNOWN", "Pack", "patched", "resource", "secret", "urn_of"]
