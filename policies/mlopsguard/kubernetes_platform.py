"""Kubernetes platform rules: default-deny NetworkPolicies per namespace, internal load balancers, TLS on Ingress
and Gateway listeners, and RBAC without wildcards or cluster-admin bindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity, StackValidationArgs

from .resources import UNKNOWN, get, items
from .rule import CIS_K8S, by_type, cis, iso, nist, pci, resource_rule, stack_rule
from .workloads import CLUSTER_SCOPED_KINDS, kind_of

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROLE_TYPES = ("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
BINDING_TYPES = ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                 "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


# --- default-deny NetworkPolicy in every namespace ----------------------------------------------------------------

def is_default_deny(policy: Any) -> bool:
    """Whether a NetworkPolicy selects every pod and denies all ingress (no ingress rules)."""
    spec = get(policy.props, "spec")
    selector = get(spec, "podSelector")
    if selector is UNKNOWN or spec is UNKNOWN:
        return False
    selects_all = selector is not None and not get(selector, "matchLabels") and not get(selector, "matchExpressions")
    types = items(get(spec, "policyTypes"))
    return selects_all and "Ingress" in types and not items(get(spec, "ingress"))


def _namespace_of(resource: Any, names: dict[str, str]) -> Any:
    """The namespace a namespaced object lands in: its own ``metadata.namespace``, or the Namespace resource it
    depends on through that property."""
    for dependency in resource.property_dependencies.get("metadata") or ():
        if dependency.urn in names:
            return names[dependency.urn]
    return get(resource.props, "metadata", "namespace")


def _validate_default_deny(args: StackValidationArgs, report) -> None:
    names: dict[str, str] = {}
    for namespace in args.resources:
        if namespace.resource_type == NAMESPACE:
            name = get(namespace.props, "metadata", "name")
            names[namespace.urn] = name if isinstance(name, str) else f"urn:{namespace.urn}"
    used: dict[str, str] = {names[urn]: urn for urn in names}
    denied: set[str] = set()
    for resource in args.resources:
        if not resource.resource_type.startswith("kubernetes:") or resource.resource_type.startswith(
                "kubernetes:helm.sh/") or resource.resource_type.startswith("pulumi:providers:"):
            continue
        kind = kind_of(resource.resource_type)
        if kind is None or kind in CLUSTER_SCOPED_KINDS:
            continue
        namespace = _namespace_of(resource, names)
        if not isinstance(namespace, str) or namespace is UNKNOWN or namespace in SYSTEM_NAMESPACES:
            continue
        used.setdefault(namespace, resource.urn)
        if resource.resource_type == NETWORK_POLICY and is_default_deny(resource):
            denied.add(namespace)
    policies = [r for r in args.resources if r.resource_type == NETWORK_POLICY]
    if any(get(p.props, "spec") is UNKNOWN or get(p.props, "metadata") is UNKNOWN or
           get(p.props, "metadata", "namespace") is UNKNOWN for p in policies):
        return  # a policy whose namespace or shape is unknown may be the default-deny of any namespace
    for namespace, urn in sorted(used.items()):
        if namespace not in denied:
            shown = namespace if not namespace.startswith("urn:") else "this namespace"
            report(f"namespace {shown} has no default-deny NetworkPolicy (podSelector {{}}, policyTypes Ingress, "
                   f"no ingress rules)", urn)


DEFAULT_DENY = stack_rule(
    name="k8s-default-deny-network-policy",
    description="Every namespace the stack uses has a default-deny ingress NetworkPolicy, so only the traffic the "
                "platform explicitly allows reaches MLflow, the models and the monitoring stack.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.3.2"), nist("SC-7"), nist("AC-4"), pci("1.3.1"), iso("A.8.22")],
    validate=_validate_default_deny,
    applies_to=("kubernetes:*",),
)


# --- internal load balancers --------------------------------------------------------------------------------------

_INTERNAL_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "Internal",
    "cloud.google.com/load-balancer-type": "Internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
_LB_SCHEMA = PolicyConfigSchema(properties={
    "allowedPublicServices": {
        "type": "array", "items": {"type": "string"}, "default": [],
        "description": "Services (`namespace/name`, or `name`) allowed to get an internet-facing load balancer.",
    },
})


def _service(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "spec", "type") != "LoadBalancer":
        return
    annotations = get(props, "metadata", "annotations")
    if annotations is UNKNOWN:
        return
    annotations = annotations or {}
    if any(str(get(annotations, key)).lower() == value.lower() for key, value in _INTERNAL_ANNOTATIONS.items()):
        return
    name, namespace = get(props, "metadata", "name"), get(props, "metadata", "namespace")
    allowed = args.get_config()["allowedPublicServices"]
    if name in allowed or f"{namespace}/{name}" in allowed:
        return
    yield ("LoadBalancer Service is internet-facing; annotate it internal for your cloud or allow-list it in "
           "allowedPublicServices")


INTERNAL_LOAD_BALANCERS = resource_rule(
    name="k8s-internal-load-balancers",
    description="LoadBalancer Services are internal unless allow-listed, so a model endpoint or MLflow is not put on "
                "the internet by a one-line type change.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), pci("1.3.1"), iso("A.8.20")],
    validate=by_type({SERVICE: _service}),
    config_schema=_LB_SCHEMA,
    applies_to=(SERVICE,),
)


# --- TLS on Ingress and Gateway -----------------------------------------------------------------------------------

def _ingress(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    spec = get(props, "spec")
    if spec is UNKNOWN or get(spec, "tls") is UNKNOWN:
        return
    hosts = {get(rule, "host") for rule in items(get(spec, "rules"))} - {None}
    covered = {h for entry in items(get(spec, "tls")) for h in items(get(entry, "hosts"))}
    if not items(get(spec, "tls")):
        yield "Ingress serves plain HTTP; add spec.tls"
    elif UNKNOWN not in hosts and UNKNOWN not in covered and hosts - covered:
        yield f"Ingress hosts {', '.join(sorted(map(str, hosts - covered)))} have no TLS entry"


def _gateway(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for listener in items(get(props, "spec", "listeners")):
        protocol = get(listener, "protocol")
        if protocol in ("HTTP", "TCP", "UDP"):
            yield f"Gateway listener {get(listener, 'name')} accepts {protocol} without TLS"


INGRESS_TLS = resource_rule(
    name="k8s-ingress-tls",
    description="Ingresses and Gateway listeners terminate TLS for every host, so predictions and MLflow "
                "credentials never travel in clear text.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-8"), pci("4.2.1"), iso("A.8.24")],
    validate=by_type({INGRESS: _ingress, GATEWAY: _gateway}),
    applies_to=(INGRESS, GATEWAY),
)


# --- RBAC ---------------------------------------------------------------------------------------------------------

def _wildcard_rbac(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for rule in items(get(props, "rules")):
        for field in ("verbs", "resources", "apiGroups"):
            if "*" in items(get(rule, field)):
                yield f"RBAC rule grants '*' in {field}; list what the subject needs"
                break


NO_WILDCARD_RBAC = resource_rule(
    name="k8s-no-wildcard-rbac",
    description="Roles and ClusterRoles list their verbs, resources and API groups: a wildcard also grants whatever "
                "the cluster adds later.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.1.3"), nist("AC-6"), pci("7.2.2"), iso("A.8.2")],
    validate=by_type({t: _wildcard_rbac for t in ROLE_TYPES}),
    applies_to=ROLE_TYPES,
)


def _cluster_admin(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "roleRef", "kind") == "ClusterRole" and get(props, "roleRef", "name") == "cluster-admin":
        yield "binds cluster-admin; bind a role with the permissions the subject needs"


NO_CLUSTER_ADMIN = resource_rule(
    name="k8s-no-cluster-admin-binding",
    description="No workload or user is bound to cluster-admin by the stack; it bypasses every other control.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.1.1"), nist("AC-6"), pci("7.2.1"), iso("A.8.2")],
    validate=by_type({t: _cluster_admin for t in BINDING_TYPES}),
    applies_to=BINDING_TYPES,
)

POLICIES = [DEFAULT_DENY, INTERNAL_LOAD_BALANCERS, INGRESS_TLS, NO_WILDCARD_RBAC, NO_CLUSTER_ADMIN]
