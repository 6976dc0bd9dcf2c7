"""NetworkPolicy pieces shared by the namespace and the workloads: who may reach a pod, and where a pod may go.

Each namespace the platform creates starts from default-deny (``mlops_platform.kubernetes.namespace``); each workload
then adds exactly the allows it needs, rendered here so that every policy uses the same selectors.
"""

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from ..cloud_layer import EgressTarget

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace; the only namespace label a policy can trust."""


def namespace_peer(namespace: pulumi.Input[str],
                   pod_labels: Mapping[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods (all, or those with ``pod_labels``) of one namespace."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None,
    )


def tcp_ports(ports: Sequence[int | str]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


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
