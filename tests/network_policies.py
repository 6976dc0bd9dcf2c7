"""Evaluates a stack's rendered NetworkPolicies as the Kubernetes API defines them, for egress to an IP address:
policies whose pod selector matches the pod and whose ``policyTypes`` include Egress isolate it; an isolated pod may
open a connection when at least one rule of one of those policies admits it (a rule with no ``to`` admits every
destination, one with no ``ports`` every port; an ``ipBlock`` admits the addresses in its CIDR outside its
``except``; namespace and pod selectors never match an address outside the cluster)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_platform_offline.harness import Preview, plain_form

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def network_policies(plan: Preview) -> list[dict[str, Any]]:
    return [plain_form(r.inputs, redact=False) for r in plan.all(NETWORK_POLICY)]


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if not {"In": present and labels.get(key) in values, "NotIn": not present or labels.get(key) not in values,
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def _port_admits(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        first = entry.get("port")
        if first is None:
            return True
        last = entry.get("endPort", first)
        if isinstance(first, int) and first <= port <= last:
            return True
    return False


def _peer_admits(peer: Mapping[str, Any], address: ipaddress.IPv4Address) -> bool:
    block = peer.get("ipBlock")
    if block is None:
        return False
    return address in ipaddress.ip_network(block["cidr"]) and not any(
        address in ipaddress.ip_network(excluded) for excluded in block.get("except") or [])


def egress_allowed(policies: Sequence[Mapping[str, Any]], namespace: str, pod_labels: Mapping[str, str],
                   address: str, port: int, protocol: str = "TCP") -> bool:
    """Whether a pod with ``pod_labels`` in ``namespace`` may connect to ``address:port``."""
    target = ipaddress.IPv4Address(address)
    isolating = [p for p in policies
                 if p["metadata"].get("namespace") == namespace and "Egress" in (p["spec"].get("policyTypes") or [])
                 and _selects(p["spec"].get("podSelector"), pod_labels)]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("egress") or []:
            if not _port_admits(rule.get("ports"), port, protocol):
                continue
            peers = rule.get("to")
            if not peers or any(_peer_admits(peer, target) for peer in peers):
                return True
    return False


def pod_template_labels(resource_inputs: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The namespace and pod labels of a Deployment or Job, from its recorded inputs."""
    inputs = plain_form(resource_inputs, redact=False)
    return inputs["metadata"]["namespace"], dict(inputs["spec"]["template"]["metadata"]["labels"])
