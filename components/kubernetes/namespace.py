"""A namespace that starts closed: default-deny ingress and egress, with only DNS allowed out.

Every namespace the platform creates is one of these; the workloads inside add the allows they need (see
``mlops_platform.kubernetes.network_access``). It also carries the Pod Security Admission labels of the ``restricted``
profile, so the API server itself rejects a pod that would run as root or with extra capabilities.
"""

import re
from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from .network_access import namespace_peer, tcp_ports
from ..tagging import tagged_options
from ..validation import DNS_LABEL, ArgumentError, is_output, shown

DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
"""CoreDNS (and kube-dns) pods carry this label on EKS, GKE, AKS, kind and k3s alike."""


class IsolatedNamespaceArgs(TypedDict):
    """Inputs of an isolated namespace."""

    name: str
    """The namespace name (a DNS label, not ``default``)."""
    pod_security: NotRequired[str]
    """Pod Security Admission level enforced: ``restricted`` (default), ``baseline`` (for charts whose pods
    cannot meet ``restricted``, such as node exporters) or ``privileged`` (node daemons that mount host paths, such
    as the NVIDIA device plugin; keep such a namespace for those daemons alone)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


def validate_namespace_name(name: object, field: str) -> str:
    if is_output(name):
        raise ArgumentError(f"{field}: an Output is not allowed; use the namespace name as a plain string (object "
                            f"names and network policies derive from it), and pass the component that creates the "
                            f"namespace in opts.depends_on")
    if not isinstance(name, str) or not re.fullmatch(DNS_LABEL, name) or name in ("default", "kube-system"):
        raise ArgumentError(f"{field}: {shown(name)} is not allowed; use a DNS label (lowercase letters, digits, '-', "
                            f"at most 63) other than default and kube-system")
    return name


class IsolatedNamespace(pulumi.ComponentResource):
    """A namespace with default-deny NetworkPolicy and DNS egress."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: IsolatedNamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        namespace_name = validate_namespace_name(args.get("name"), f"{name}.name")
        level = args.get("pod_security", "restricted")
        if level not in ("restricted", "baseline", "privileged"):
            raise ArgumentError(f"{name}.pod_security: {shown(level)} is not allowed; use restricted, baseline or "
                                f"privileged")
        super().__init__("mlops:kubernetes:IsolatedNamespace", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace_name,
                labels={
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            opts=child,
        )
        in_namespace = child.merge(pulumi.ResourceOptions(depends_on=[namespace]))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=namespace_name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=in_namespace,
        )
        dns_ports = [k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53), *tcp_ports([53])]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="allow-dns", namespace=namespace_name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[namespace_peer(DNS_NAMESPACE, DNS_POD_LABELS)], ports=dns_ports)],
            ),
            opts=in_namespace,
        )
        self.name = namespace.metadata.apply(lambda metadata: metadata.name)
        self.register_outputs({"name": self.name})
