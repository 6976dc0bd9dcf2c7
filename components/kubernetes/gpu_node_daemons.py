"""The daemons a GPU node needs before a pod can use its GPUs, and the monitoring of those GPUs.

What it gives: a namespace of their own (default-deny; Pod Security ``privileged``, because both daemons mount host
paths of the node); the NVIDIA device plugin from its pinned Helm chart, which advertises ``nvidia.com/gpu`` to the
kubelet (the driver is in the node image, the plugin is not); and NVIDIA's DCGM exporter from its pinned chart with
a ServiceMonitor, so GPU utilisation and memory (``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_FB_USED``) reach
Prometheus with the ``namespace`` and ``pod`` of the workload using each GPU. Both run on the GPU nodes only: they
select the GPU nodes' labels and tolerate exactly their taints.

What it deliberately does not: install GPU drivers (the cloud's GPU node image has them), run GPU feature
discovery, or configure time-slicing or MIG. A cloud that already runs the device plugin (``device_plugin: false``)
gets the exporter alone.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from .gpu_placement import GpuNodesArgs, node_selector, tolerations, validate_gpu_nodes
from .namespace import IsolatedNamespace, validate_namespace_name
from .network_access import allow_policy, namespace_peer, tcp_ports
from ..tagging import tagged_options
from ..validation import ArgumentError, optional_bool, reject_unknown_keys

DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_VERSION = "0.20.0"
"""Pinned to the chart in ../shared/reference/nvidia-device-plugin (NVIDIA/k8s-device-plugin v0.20.0); update both
together."""
DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
DCGM_EXPORTER_CHART = "dcgm-exporter"
DCGM_EXPORTER_VERSION = "4.8.2"
"""The chart of DCGM-Exporter release 4.5.3-4.8.2 (NVIDIA/dcgm-exporter, May 2026; the chart is versioned as the
exporter)."""
DCGM_EXPORTER_REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_EXPORTER_PORT = 9400
DEFAULT_NAMESPACE = "nvidia-gpu"
_ARGS = frozenset({"gpu_nodes", "device_plugin", "namespace", "monitoring_namespace", "tags"})


class GpuNodeDaemonsArgs(TypedDict):
    """Inputs of the GPU node daemons."""

    gpu_nodes: GpuNodesArgs
    """The GPU nodes' labels and taints, as the cloud layer reports them."""
    device_plugin: NotRequired[bool]
    """Install the NVIDIA device plugin (default true); false when the cloud already runs one."""
    namespace: NotRequired[str]
    """Namespace the component creates for the daemons (default ``nvidia-gpu``)."""
    monitoring_namespace: NotRequired[str]
    """Namespace of Prometheus, allowed to scrape the exporter (default ``monitoring``)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class GpuNodeDaemonsSettings:
    gpu_nodes: GpuNodesArgs
    device_plugin: bool
    namespace: str
    monitoring_namespace: str


def validate_gpu_node_daemons_args(args: Mapping[str, Any], field: str = "gpu") -> GpuNodeDaemonsSettings:
    reject_unknown_keys(args, _ARGS, field)
    if args.get("gpu_nodes") is None:
        raise ArgumentError(f"{field}.gpu_nodes: missing; the cloud layer reports the GPU nodes' labels and taints")
    return GpuNodeDaemonsSettings(
        gpu_nodes=validate_gpu_nodes(args["gpu_nodes"], f"{field}.gpu_nodes"),
        device_plugin=optional_bool(args, "device_plugin", field, True),
        namespace=validate_namespace_name(args.get("namespace", DEFAULT_NAMESPACE), f"{field}.namespace"),
        monitoring_namespace=validate_namespace_name(args.get("monitoring_namespace", "monitoring"),
                                                     f"{field}.monitoring_namespace"),
    )


def device_plugin_values(settings: GpuNodeDaemonsSettings) -> dict[str, Any]:
    """The device plugin chart's values. Every key exists in the pinned chart's values.yaml (a test checks it)."""
    return {
        "nodeSelector": node_selector(settings.gpu_nodes),
        # The chart's default affinity matches node-feature-discovery labels, which this platform does not run:
        # replaced by the GPU nodes' own labels.
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
            "matchExpressions": [{"key": key, "operator": "In", "values": [value]}
                                 for key, value in sorted(node_selector(settings.gpu_nodes).items())]}]}}},
        "tolerations": tolerations(settings.gpu_nodes),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
        "gfd": {"enabled": False},
    }


def dcgm_exporter_values(settings: GpuNodeDaemonsSettings) -> dict[str, Any]:
    """The DCGM exporter chart's values: on GPU nodes only, scraped through the chart's ServiceMonitor. The
    exporter's own ``namespace``/``pod`` labels name the workload using each GPU, so they are honoured."""
    return {
        "nodeSelector": node_selector(settings.gpu_nodes),
        "tolerations": tolerations(settings.gpu_nodes),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
        "serviceMonitor": {"enabled": True, "interval": "30s", "honorLabels": True},
    }


class GpuNodeDaemons(pulumi.ComponentResource):
    """The NVIDIA device plugin and the DCGM exporter on the cluster's GPU nodes."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: GpuNodeDaemonsArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_gpu_node_daemons_args(args, field=name)
        super().__init__("mlops:kubernetes:GpuNodeDaemons", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        ns = settings.namespace
        namespace = IsolatedNamespace(f"{name}-namespace", {"name": ns, "pod_security": "privileged"}, opts=child)
        inside = child.merge(pulumi.ResourceOptions(depends_on=[namespace]))
        # The device plugin talks to the kubelet over a host socket only; the exporter is scraped by Prometheus.
        allow_policy(
            f"{name}-allow-scrape", ns, {},
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(settings.monitoring_namespace)], ports=tcp_ports([DCGM_EXPORTER_PORT]))],
            egress=None, opts=inside,
        )
        if settings.device_plugin:
            k8s.helm.v3.Release(
                f"{name}-device-plugin",
                name="nvidia-device-plugin",
                chart=DEVICE_PLUGIN_CHART,
                version=DEVICE_PLUGIN_VERSION,
                namespace=ns,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DEVICE_PLUGIN_REPOSITORY),
                values=device_plugin_values(settings),
                create_namespace=False,
                atomic=True,
                cleanup_on_fail=True,
                opts=inside,
            )
        k8s.helm.v3.Release(
            f"{name}-dcgm-exporter",
            name="dcgm-exporter",
            chart=DCGM_EXPORTER_CHART,
            version=DCGM_EXPORTER_VERSION,
            namespace=ns,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DCGM_EXPORTER_REPOSITORY),
            values=dcgm_exporter_values(settings),
            create_namespace=False,
            atomic=True,
            cleanup_on_fail=True,
            opts=inside,
        )
        self.namespace = namespace.name
        self.register_outputs({"namespace": self.namespace})
