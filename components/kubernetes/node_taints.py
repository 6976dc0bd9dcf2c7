"""Node taints as workload arguments, and the tolerations rendered from them.

The cloud layer names the taints of its nodes once (``mlops_platform.cloud_layer``: ``CloudLayer.cpu_taints`` for
the CPU pools, ``GpuCapacity.taints`` for the GPU nodes); the Kubernetes layer hands them to each workload as a list
of ``NodeTaintArgs``, and every pod tolerates exactly those taints with one ``Equal`` toleration each, nothing
broader (no ``Exists``), so a pod never lands on a pool it was not meant for.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import pulumi_kubernetes as k8s

from ..cloud_layer import TAINT_EFFECTS, NodeTaint
from ..validation import ArgumentError, reject_unknown_keys

LABEL_KEY = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
"""A Kubernetes label key (which is also what a taint key must be)."""


class NodeTaintArgs(TypedDict):
    """One taint of a node, in Kubernetes' spelling."""

    key: str
    value: str
    effect: str
    """``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``."""


def node_taint_args(taints: Iterable[NodeTaint]) -> list[NodeTaintArgs]:
    """The cloud layer's taints as workload arguments."""
    return [NodeTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in taints]


def validate_node_taints(taints: Any, field: str) -> list[NodeTaintArgs]:
    """Check a list of ``{key, value, effect}``; raises ``ArgumentError`` naming the field, the value and what is
    allowed. Absent (None) is an empty list."""
    taints = [] if taints is None else taints
    if not isinstance(taints, list):
        raise ArgumentError(f"{field}: {taints!r} is not allowed; use a list of {{key, value, effect}}")
    for index, taint in enumerate(taints):
        where = f"{field}[{index}]"
        if not isinstance(taint, Mapping):
            raise ArgumentError(f"{where}: {taint!r} is not allowed; use a mapping with key, value and effect")
        reject_unknown_keys(taint, {"key", "value", "effect"}, where)
        if not isinstance(taint.get("key"), str) or not re.fullmatch(LABEL_KEY, taint["key"]):
            raise ArgumentError(f"{where}.key: {taint.get('key')!r} is not allowed; use a Kubernetes label key")
        if not isinstance(taint.get("value", ""), str):
            raise ArgumentError(f"{where}.value: {taint.get('value')!r} is not allowed; use a string")
        if taint.get("effect") not in TAINT_EFFECTS:
            raise ArgumentError(f"{where}.effect: {taint.get('effect')!r} is not allowed; use one of "
                                f"{', '.join(TAINT_EFFECTS)}")
    return [NodeTaintArgs(key=t["key"], value=t.get("value", ""), effect=t["effect"]) for t in taints]


def tolerations(*taint_lists: Sequence[NodeTaintArgs]) -> list[dict[str, str]]:
    """One ``Equal`` toleration per distinct taint of the lists, in order: tolerating these and nothing broader."""
    seen: dict[tuple[str, str, str], dict[str, str]] = {}
    for taints in taint_lists:
        for t in taints:
            seen.setdefault((t["key"], t["value"], t["effect"]),
                            {"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]})
    return list(seen.values())


def toleration_args(*taint_lists: Sequence[NodeTaintArgs]) -> list[k8s.core.v1.TolerationArgs] | None:
    """``tolerations`` as pod spec arguments; None (no field) when there is nothing to tolerate."""
    return [k8s.core.v1.TolerationArgs(**toleration) for toleration in tolerations(*taint_lists)] or None
