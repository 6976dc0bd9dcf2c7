"""Where GPU pods go: the node labels and taints of the cluster's GPU nodes, as arguments the GPU workloads take,
and the node selector and tolerations rendered from them.

The cloud layer reports its GPU nodes once (``mlops_platform.cloud_layer.GpuCapacity``); the Kubernetes layer hands
them to every GPU workload as ``GpuNodesArgs``, so a GPU pod selects exactly the labels every GPU node carries and
tolerates exactly their taints, on any cloud. Nothing else tolerates them.
"""


import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from ..cloud_layer import GpuCapacity
from ..validation import ArgumentError, reject_unknown_keys
from . import node_taints
from .node_taints import LABEL_KEY, NodeTaintArgs, node_taint_args, validate_node_taints

_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


class GpuNodesArgs(TypedDict):
    """The GPU nodes of the cluster, as the cloud layer reports them."""

    node_labels: Mapping[str, str]
    """Labels every GPU node carries (at least one): GPU pods select on all of them."""
    taints: NotRequired[list[NodeTaintArgs]]
    """Taints every GPU node carries: GPU pods tolerate exactly these."""


def gpu_nodes_args(capacity: GpuCapacity) -> GpuNodesArgs:
    """The cloud layer's GPU capacity as the arguments of a GPU workload."""
    return GpuNodesArgs(node_labels=dict(capacity.node_labels), taints=node_taint_args(capacity.taints))


def validate_gpu_nodes(args: Any, field: str) -> GpuNodesArgs:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    if not isinstance(args, Mapping):
        raise ArgumentError(f"{field}: {args!r} is not allowed; use a mapping with node_labels and taints")
    reject_unknown_keys(args, {"node_labels", "taints"}, field)
    labels = args.get("node_labels")
    if (not isinstance(labels, Mapping) or not labels
            or not all(isinstance(k, str) and re.fullmatch(LABEL_KEY, k) and isinstance(v, str)
                       and re.fullmatch(_LABEL_VALUE, v) for k, v in labels.items())):
        raise ArgumentError(f"{field}.node_labels: {labels!r} is not allowed; use a non-empty mapping of Kubernetes "
                            f"label keys to label values")
    return GpuNodesArgs(node_labels=dict(labels),
                        taints=validate_node_taints(args.get("taints") or [], f"{field}.taints"))


def node_selector(nodes: GpuNodesArgs) -> dict[str, str]:
    return dict(nodes["node_labels"])


def tolerations(nodes: GpuNodesArgs) -> list[dict[str, str]]:
    """One ``Equal`` toleration per taint: tolerating the GPU taints and nothing broader."""
    return node_taints.tolerations(nodes.get("taints") or [])
