"""Where GPU pods go: the node labels and taints of the cluster's GPU nodes, as arguments the GPU workloads take,
and the node selector and tolerations rendered from them.

The cloud layer reports its GPU nodes once (``mlops_platform.cloud_layer.GpuCapacity``); the Kubernetes layer hands
them to every GPU workload as ``GpuNodesArgs``, so a GPU pod selects exactly the labels every GPU node carries and
tolerates exactly their taints, on any cloud. Nothing else tolerates them.
"""


import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi_kubernetes as k8s

from ..cloud_layer import TAINT_EFFECTS, GpuCapacity
from ..validation import ArgumentError, reject_unknown_keys

_LABEL_KEY = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


class GpuNodeTaintArgs(TypedDict):
    """One taint of the GPU nodes, in Kubernetes' spelling."""

    key: str
    value: str
    effect: str
    """``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``."""


class GpuNodesArgs(TypedDict):
    """The GPU nodes of the cluster, as the cloud layer reports them."""

    node_labels: Mapping[str, str]
    """Labels every GPU node carries (at least one): GPU pods select on all of them."""
    taints: NotRequired[list[GpuNodeTaintArgs]]
    """Taints every GPU node carries: GPU pods tolerate exactly these."""


def gpu_nodes_args(capacity: GpuCapacity) -> GpuNodesArgs:
    """The cloud layer's GPU capacity as the arguments of a GPU workload."""
    return GpuNodesArgs(node_labels=dict(capacity.node_labels),
                        taints=[GpuNodeTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in capacity.taints])


def validate_gpu_nodes(args: Any, field: str) -> GpuNodesArgs:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    if not isinstance(args, Mapping):
        raise ArgumentError(f"{field}: {args!r} is not allowed; use a mapping with node_labels and taints")
    reject_unknown_keys(args, {"node_labels", "taints"}, field)
    labels = args.get("node_labels")
    if (not isinstance(labels, Mapping) or not labels
            or not all(isinstance(k, str) and re.fullmatch(_LABEL_KEY, k) and isinstance(v, str)
                       and re.fullmatch(_LABEL_VALUE, v) for k, v in labels.items())):
        raise ArgumentError(f"{field}.node_labels: {labels!r} is not allowed; use a non-empty mapping of Kubernetes "
                            f"label keys to label values")
    taints = args.get("taints") or []
    if not isinstance(taints, list):
        raise ArgumentError(f"{field}.taints: {taints!r} is not allowed; use a list of {{key, value, effect}}")
    for index, taint in enumerate(taints):
        where = f"{field}.taints[{index}]"
        if not isinstance(taint, Mapping):
            raise ArgumentError(f"{where}: {taint!r} is not allowed; use a mapping with key, value and effect")
        reject_unknown_keys(taint, {"key", "value", "effect"}, where)
        if not isinstance(taint.get("key"), str) or not re.fullmatch(_LABEL_KEY, taint["key"]):
            raise ArgumentError(f"{where}.key: {taint.get('key')!r} is not allowed; use a Kubernetes label key")
        if not isinstance(taint.get("value", ""), str):
            raise ArgumentError(f"{where}.value: {taint.get('value')!r} is not allowed; use a string")
        if taint.get("effect") not in TAINT_EFFECTS:
            raise ArgumentError(f"{where}.effect: {taint.get('effect')!r} is not allowed; use one of "
                                f"{', '.join(TAINT_EFFECTS)}")
    return GpuNodesArgs(node_labels=dict(labels),
                        taints=[GpuNodeTaintArgs(key=t["key"], value=t.get("value", ""), effect=t["effect"])
                                for t in taints])


def node_selector(nodes: GpuNodesArgs) -> dict[str, str]:
    return dict(nodes["node_labels"])


def tolerations(nodes: GpuNodesArgs) -> list[dict[str, str]]:
    """One ``Equal`` toleration per taint: tolerating the GPU taints and nothing broader."""
    return [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]}
            for t in nodes.get("taints") or []]


def toleration_args(nodes: GpuNodesArgs) -> list[k8s.core.v1.TolerationArgs]:
    return [k8s.core.v1.TolerationArgs(**toleration) for toleration in tolerations(nodes)]
