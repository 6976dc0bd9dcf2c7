"""NetworkPolicy pieces shared by the namespace and the workloads: who may reach a pod, and where a pod may go.

Each namespace the platform creates starts from default-deny (``mlops_platform.kubernetes.namespace``); each workload
then adds exactly the allows it needs, rendered here so that every policy uses the same selectors.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..cloud_layer import EgressTarget
from ..validation import ArgumentError, reject_unknown_keys, shown

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace; the only namespace label a policy can trust."""


class EgressTargetArgs(TypedDict):
    """Where a workload's pods may connect: by IP range for a service outside the cluster, or by namespace and pod
    labels for a service inside it (the cloud layer's ``EgressTarget`` as plain data)."""

    ports: list[int]
    """TCP ports of the service (at least one, 1-65535)."""
    cidrs: NotRequired[pulumi.Input[list[str]]]
    """IP ranges of the service (default ``0.0.0.0/0``; ignored when ``namespace`` is set)."""
    namespace: NotRequired[str]
    """In-cluster service: the namespace it runs in."""
    pod_labels: NotRequired[Mapping[str, str]]
    """In-cluster service: the labels of its pods."""


def egress_target(value: Any, field: str, default: EgressTarget) -> EgressTarget:
    """``value`` (an ``EgressTargetArgs`` mapping, or the cloud layer's ``EgressTarget``) as an ``EgressTarget``;
    ``default`` when absent. Raises ``ArgumentError`` naming the field, the value and what is allowed."""
    if value is None:
        return default
    if isinstance(value, EgressTarget):
        return value
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{field}: {shown(value)} is not allowed; use a mapping with ports and cidrs or namespace")
    reject_unknown_keys(value, {"ports", "cidrs", "namespace", "pod_labels"}, field)
    ports = value.get("ports")
    if (not isinstance(ports, (list, tuple)) or not ports
            or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports)):
        raise ArgumentError(f"{field}.ports: {ports!r} is not allowed; use a non-empty list of TCP ports (1-65535)")
    namespace = value.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ArgumentError(f"{field}.namespace: {namespace!r} is not allowed; use a namespace name")
    labels = value.get("pod_labels")
    if labels is not None and not (isinstance(labels, Mapping)
                                   and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
        raise ArgumentError(f"{field}.pod_labels: {labels!r} is not allowed; use a mapping of label keys to values")
    cidrs = value.get("cidrs")
    return EgressTarget(ports=tuple(int(p) for p in ports), namespace=namespace,
                        pod_labels=dict(labels) if labels is not None else None,
                        **({} if cidrs is None else {"cidrs": cidrs}))


def namespace_peer(namespace: pulumi.Input[str],
                   pod_labels: Mapping[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods (all, or those with ``pod_labels``) of one namespace."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None,
    )


def tcp_ports(ports: Sequence[int | str]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def egress_targets(value: Any, field: str) -> tuple[EgressTarget, ...]:
    """A list of ``EgressTargetArgs`` mappings or ``EgressTarget`` values (absent: none) as ``EgressTarget``s."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"{field}: {shown(value)} is not allowed; use a list of mappings with ports and cidrs "
                            f"or namespace")
    return tuple(egress_target(item, f"{field}[{index}]", EgressTarget(ports=(443,)))
                 for index, item in enumerate(value))


def egress_rule(target: EgressTarget) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to a cloud layer's database or artifact store."""
    if target.namespace is not None:
        peers: pulumi.Input = [namespace_peer(target.namespace, target.pod_labels)]
    else:
        peers = pulumi.Output.from_input(target.cidrs).apply(
            lambda cidrs: [k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
                           for c in cidrs]
        )
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=peers, ports=tcp_ports(target.ports))


def egress_rules(targets: Sequence[EgressTarget]) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """One egress rule per distinct target, in order: a target two contract fields name alike (HTTPS anywhere, for
    the store and the token endpoint) opens once."""
    distinct: list[EgressTarget] = []
    for target in targets:
        if target not in distinct:
            distinct.append(target)
    return [egress_rule(target) for target in distinct]


def allow_policy(
    name: str,
    namespace: pulumi.Input[str],
    pod_labels: Mapping[str, str],
    ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None,
    egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """One NetworkPolicy that allows the given traffic to/from the pods with ``pod_labels``; policies add up, so
    this only opens what the namespace's default-deny closed."""
    types = (["Ingress"] if ingress is not None else []) + (["Egress"] if egress is not None else [])
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)),
            policy_types=types,
            ingress=ingress,
            egress=egress,
        ),
        opts=opts,
    )
