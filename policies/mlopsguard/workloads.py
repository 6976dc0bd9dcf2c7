"""Kubernetes workload rules (Pods and every controller that templates them): the Pod Security Standards
"restricted" profile, resource requests and limits (GPU too), pinned images from allowed registries, probes on
serving workloads, no default namespace and no API token unless the workload needs one.

pulumi-kubernetes sends the object's own fields (apiVersion, kind, metadata, spec) as the resource's inputs, so
these rules read the same shape a manifest has.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from .resources import PRODUCTION_SCHEMA_PROPERTIES, UNKNOWN, get, is_production, items, string_map
from .rule import CIS_K8S, cis, iso, judging, nist, pci, resource_rule

_KUBERNETES_TYPE = re.compile(r"^kubernetes:(?P<group>[^:]+)/(?P<version>[^:/]+):(?P<kind>\w+)$")
TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController",
                            "DeploymentConfig"})
WORKLOAD_KINDS = TEMPLATE_KINDS | {"Pod", "CronJob"}
SERVING_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "DeploymentConfig",
                           "Pod"})
NEEDS_API_ANNOTATION = "mlops.dev/kubernetes-api-access"
"""Set to "needed" on a workload that talks to the Kubernetes API, to keep its service-account token mounted."""
APPLIES_TO = ("kubernetes:*",)


def kind_of(resource_type: str) -> str | None:
    """The Kubernetes kind of a pulumi-kubernetes type token (``kubernetes:apps/v1:Deployment`` -> Deployment)."""
    match = _KUBERNETES_TYPE.match(resource_type)
    return match["kind"] if match else None


def pod_template(kind: str | None, props: Any) -> tuple[Any, Any]:
    """The pod ``(spec, metadata)`` a workload runs, or ``(None, None)`` for a kind that runs no pods."""
    if kind == "Pod":
        return get(props, "spec"), get(props, "metadata")
    if kind in TEMPLATE_KINDS:
        return get(props, "spec", "template", "spec"), get(props, "spec", "template", "metadata")
    if kind == "CronJob":
        template = get(props, "spec", "jobTemplate", "spec", "template")
        return get(template, "spec"), get(template, "metadata")
    return None, None


def containers(pod: Any) -> list[Any]:
    """Every container of a pod spec: init containers first, then the app containers."""
    return [c for key in ("initContainers", "containers") for c in items(get(pod, key)) if c is not UNKNOWN]


def is_workload_type(resource_type: str) -> bool:
    """Whether a resource type is a Kubernetes kind that runs pods."""
    return resource_type.startswith("kubernetes:") and kind_of(resource_type) in WORKLOAD_KINDS


def _workload_rule(check):
    """A validation that runs ``check(pod_spec, pod_metadata, args)`` on every workload's pod template."""

    @judging(is_workload_type)
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        if not is_workload_type(args.resource_type):
            return
        kind = kind_of(args.resource_type)
        pod, metadata = pod_template(kind, args.props)
        if pod is None or pod is UNKNOWN:
            return
        for problem in check(pod, metadata, args, kind):
            report_violation(problem)

    return validate


def _name(container: Any) -> str:
    return str(get(container, "name") or "?")


def _security(container: Any, pod: Any, key: str) -> Any:
    """A container's security setting, falling back to the pod's (for the fields a pod may set)."""
    value = get(container, "securityContext", key)
    return get(pod, "securityContext", key) if value is None else value


# --- requests and limits ------------------------------------------------------------------------------------------

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")


def _resources(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        resources = get(container, "resources")
        if resources is UNKNOWN:
            continue
        requests, limits = get(resources, "requests"), get(resources, "limits")
        if requests is UNKNOWN or limits is UNKNOWN:
            continue
        requests, limits = string_map(requests), string_map(limits)
        missing = [f"{side}.{res}" for side, values in (("requests", requests), ("limits", limits))
                   for res in ("cpu", "memory") if res not in values]
        if missing:
            yield f"container {_name(container)} sets no {', '.join(missing)}"
        for gpu in GPU_RESOURCES:
            if UNKNOWN in (requests.get(gpu), limits.get(gpu)):
                continue
            if (gpu in requests) != (gpu in limits):
                yield f"container {_name(container)} must set {gpu} in both requests and limits"


RESOURCES = resource_rule(
    name="k8s-resource-limits",
    description="Every container requests and limits CPU and memory (and GPUs in both), so one model cannot starve "
                "the node and the scheduler places pods on nodes that fit them.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-6"), iso("A.8.6")],
    validate=_workload_rule(_resources),
    applies_to=APPLIES_TO,
)


# --- non-root -----------------------------------------------------------------------------------------------------

def _non_root(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        non_root = _security(container, pod, "runAsNonRoot")
        user = _security(container, pod, "runAsUser")
        if non_root is UNKNOWN or user is UNKNOWN:
            continue
        if user == 0 or (non_root is not True and not (isinstance(user, (int, float)) and user > 0)):
            yield f"container {_name(container)} may run as root; set runAsNonRoot true (and a non-zero runAsUser)"


NON_ROOT = resource_rule(
    name="k8s-run-as-non-root",
    description="Containers run as a non-root user, so a container breakout does not start as root on the node.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.7"), nist("AC-6"), iso("A.8.2")],
    validate=_workload_rule(_non_root),
    applies_to=APPLIES_TO,
)


# --- privileged, privilege escalation -----------------------------------------------------------------------------

def _privileged(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        if get(container, "securityContext", "privileged") is True:
            yield f"container {_name(container)} is privileged"


NO_PRIVILEGED = resource_rule(
    name="k8s-no-privileged",
    description="No container is privileged: a privileged container has every capability and device of the node.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.2"), nist("AC-6"), nist("CM-7"), pci("2.2.1"), iso("A.8.2")],
    validate=_workload_rule(_privileged),
    applies_to=APPLIES_TO,
)


def _escalation(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        value = get(container, "securityContext", "allowPrivilegeEscalation")
        if value is not False and value is not UNKNOWN:
            yield f"container {_name(container)} does not set allowPrivilegeEscalation false"


NO_ESCALATION = resource_rule(
    name="k8s-no-privilege-escalation",
    description="Containers set allowPrivilegeEscalation false, so setuid binaries cannot gain more rights than the "
                "process started with.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.6"), nist("AC-6"), iso("A.8.2")],
    validate=_workload_rule(_escalation),
    applies_to=APPLIES_TO,
)


# --- capabilities -------------------------------------------------------------------------------------------------

_ALLOWED_ADDED = frozenset({"NET_BIND_SERVICE"})


def _capabilities(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        capabilities = get(container, "securityContext", "capabilities")
        if capabilities is UNKNOWN:
            continue
        drop = [str(c).upper() for c in items(get(capabilities, "drop"))]
        added = [str(c).upper().removeprefix("CAP_") for c in items(get(capabilities, "add"))]
        if "ALL" not in drop:
            yield f"container {_name(container)} does not drop ALL capabilities"
        extra = sorted(set(added) - _ALLOWED_ADDED)
        if extra:
            yield f"container {_name(container)} adds capabilities {', '.join(extra)}"


DROP_CAPABILITIES = resource_rule(
    name="k8s-drop-all-capabilities",
    description="Containers drop all Linux capabilities and add back none (NET_BIND_SERVICE at most).",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.9"), nist("CM-7"), nist("AC-6"), iso("A.8.2")],
    validate=_workload_rule(_capabilities),
    applies_to=APPLIES_TO,
)


# --- host namespaces, ports and paths -----------------------------------------------------------------------------

def _host_namespaces(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if get(pod, key) is True]
    if shared:
        yield f"pod shares the node's {', '.join(shared)}"


HOST_NAMESPACES = resource_rule(
    name="k8s-no-host-namespaces",
    description="Pods do not share the node's network, process or IPC namespace, which would let them see and "
                "talk to everything on the node.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.3"), cis(*CIS_K8S, "5.2.4"), cis(*CIS_K8S, "5.2.5"), nist("SC-39"), iso("A.8.22")],
    validate=_workload_rule(_host_namespaces),
    applies_to=APPLIES_TO,
)


def _host_ports(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        for port in items(get(container, "ports")):
            host_port = get(port, "hostPort")
            if isinstance(host_port, (int, float)) and host_port != 0:
                yield f"container {_name(container)} binds hostPort {host_port}"


HOST_PORTS = resource_rule(
    name="k8s-no-host-port",
    description="Containers bind no hostPort: a host port bypasses NetworkPolicies and Services.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.13"), nist("SC-7"), iso("A.8.22")],
    validate=_workload_rule(_host_ports),
    applies_to=APPLIES_TO,
)


def _host_paths(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for volume in items(get(pod, "volumes")):
        path = get(volume, "hostPath", "path")
        if path is not None and path is not UNKNOWN:
            yield f"volume {get(volume, 'name')} mounts the node's {path}"


HOST_PATHS = resource_rule(
    name="k8s-no-host-path",
    description="Pods mount no hostPath volume (the container runtime socket least of all): it exposes the node's "
                "file system.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.2.12"), nist("AC-6"), nist("SC-39"), iso("A.8.2")],
    validate=_workload_rule(_host_paths),
    applies_to=APPLIES_TO,
)


# --- seccomp, read-only root ------------------------------------------------------------------------------------

_SECCOMP_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_OK = ("RuntimeDefault", "Localhost")


def _seccomp(pod: Any, metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    pod_profile = get(pod, "securityContext", "seccompProfile", "type")
    annotation = get(metadata, "annotations", _SECCOMP_ANNOTATION)
    if pod_profile is UNKNOWN or annotation is UNKNOWN:
        return
    pod_ok = pod_profile in _SECCOMP_OK or annotation in ("runtime/default", "docker/default")
    for container in containers(pod):
        profile = get(container, "securityContext", "seccompProfile", "type")
        if profile is UNKNOWN:
            continue
        if profile == "Unconfined" or (profile is None and not pod_ok):
            yield f"container {_name(container)} runs without the RuntimeDefault seccomp profile"


SECCOMP = resource_rule(
    name="k8s-seccomp-runtime-default",
    description="Pods run with the RuntimeDefault seccomp profile, which blocks the system calls containers never "
                "need and many kernel exploits use.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.7.2"), nist("CM-7"), nist("SC-39"), iso("A.8.9")],
    validate=_workload_rule(_seccomp),
    applies_to=APPLIES_TO,
)


def _read_only_root(pod: Any, _metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    for container in containers(pod):
        value = get(container, "securityContext", "readOnlyRootFilesystem")
        if value is not True and value is not UNKNOWN:
            yield f"container {_name(container)} has a writable root file system"


READ_ONLY_ROOT = resource_rule(
    name="k8s-read-only-root-filesystem",
    description="Containers run with a read-only root file system (scratch space as emptyDir), so an attacker "
                "cannot drop tools into the image.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-7"), nist("SI-7"), iso("A.8.9")],
    validate=_workload_rule(_read_only_root),
    applies_to=APPLIES_TO,
)


# --- images -------------------------------------------------------------------------------------------------------

_IMAGE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z0-9_+.-]+:[0-9a-fA-F]+))?$")
_IMAGE_SCHEMA = PolicyConfigSchema(properties={
    **PRODUCTION_SCHEMA_PROPERTIES,
    "requireDigestInProduction": {
        "type": "boolean", "default": True,
        "description": "In production, every image must be pinned by digest (@sha256:...).",
    },
})


def parse_image(image: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` of an image reference; the tag of ``host:port/name`` is not mistaken for a port."""
    match = _IMAGE.match(image)
    if not match:
        return image, None, None
    name, tag, digest = match["name"], match["tag"], match["digest"]
    if tag is None and ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def implausible_digest(digest: str) -> bool:
    """A ``sha256:`` digest no image can have: a hash shows about 16 distinct hex digits, never a handful, and is
    never a short pattern repeated (all zeros, ``deadbeef...``). Other algorithms and lengths are left alone."""
    algorithm, _, hex_digits = digest.partition(":")
    if algorithm != "sha256" or len(hex_digits) != 64:
        return False  # malformed references are the registry's to refuse
    hex_digits = hex_digits.lower()
    periodic = any(hex_digits == hex_digits[:period] * (64 // period) for period in (1, 2, 4, 8, 16, 32))
    return periodic or len(set(hex_digits)) < 8


def _pinned(pod: Any, _metadata: Any, args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    config = args.get_config()
    production = None
    for container in containers(pod):
        image = get(container, "image")
        if not isinstance(image, str) or "04da6b54-80e4-46f7-96ec-b56ff0331ba9" in image:
            continue
        _, tag, digest = parse_image(image)
        if digest is not None and implausible_digest(digest):
            yield (f"container {_name(container)} image {image} has a digest that cannot be real (a placeholder); "
                   f"use the digest the registry reports for the pushed image")
            continue
        if digest is None and tag in (None, "latest"):
            yield f"container {_name(container)} image {image} is not pinned (no tag, or :latest)"
            continue
        if digest is None and config.get("requireDigestInProduction", True):
            if production is None:
                provider = args.provider.props if args.provider is not None else None
                production = is_production(args.resource_type, args.props, provider, config)
            if production is True:
                yield f"container {_name(container)} image {image} has no digest; production pins images by digest"


IMAGE_PINNED = resource_rule(
    name="k8s-image-pinned",
    description="Images are pinned: never :latest or untagged, and by digest in production, so what runs is what "
                "was tested and a pushed tag cannot change it; a digest that cannot be real (a placeholder such as "
                "sha256:000...) is refused.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-2"), nist("CM-14"), nist("SI-7"), iso("A.8.19")],
    validate=_workload_rule(_pinned),
    config_schema=_IMAGE_SCHEMA,
    applies_to=APPLIES_TO,
)

_REGISTRY_SCHEMA = PolicyConfigSchema(properties={
    "allowedRegistries": {
        "type": "array", "items": {"type": "string"},
        "default": ["docker.io/", "ghcr.io/", "quay.io/", "registry.k8s.io/", "public.ecr.aws/",
                    "*.dkr.ecr.*.amazonaws.com/", "*-docker.pkg.dev/", "gcr.io/", "*.gcr.io/",
                    "*.azurecr.io/"],
        "description": "Image prefixes allowed (fnmatch patterns on the full reference; Docker Hub short names "
                       "count as docker.io/).",
    },
})


def _registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" not in image or ("." not in first and ":" not in first and first != "localhost"):
        return f"docker.io/{image}"
    return image


def _registries(pod: Any, _metadata: Any, args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    allowed = [pattern if pattern.endswith("*") else f"{pattern}*" for pattern in args.get_config()[
        "allowedRegistries"]]
    for container in containers(pod):
        image = get(container, "image")
        if not isinstance(image, str) or "04da6b54-80e4-46f7-96ec-b56ff0331ba9" in image:
            continue
        full = _registry_of(image)
        if not any(fnmatchcase(full, pattern) for pattern in allowed):
            yield f"container {_name(container)} image {image} is not from an allowed registry"


ALLOWED_REGISTRIES = resource_rule(
    name="k8s-allowed-registries",
    description="Images come only from the configured registries, so a typo or a look-alike name cannot pull an "
                "attacker's image.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-7"), nist("SR-3"), iso("A.8.19")],
    validate=_workload_rule(_registries),
    config_schema=_REGISTRY_SCHEMA,
    applies_to=APPLIES_TO,
)


# --- probes on serving workloads ----------------------------------------------------------------------------------

def _probes(pod: Any, _metadata: Any, _args: ResourceValidationArgs, kind: str) -> Iterator[str]:
    if kind not in SERVING_KINDS:
        return
    for container in items(get(pod, "containers")):
        if container is UNKNOWN or not items(get(container, "ports")):
            continue  # a container that serves nothing has nothing to probe
        missing = [p for p in ("readinessProbe", "livenessProbe") if get(container, p) is None]
        if missing:
            yield f"serving container {_name(container)} has no {' or '.join(missing)}"


PROBES = resource_rule(
    name="k8s-serving-probes",
    description="Serving containers (those that expose a port) have readiness and liveness probes, so traffic only "
                "reaches a model that is loaded and a hung server is restarted.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SI-4"), nist("CP-10"), iso("A.8.16")],
    validate=_workload_rule(_probes),
    applies_to=APPLIES_TO,
)


# --- default namespace --------------------------------------------------------------------------------------------

CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "IngressClass", "GatewayClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "CSIDriver", "RuntimeClass", "ClusterIssuer", "VolumeSnapshotClass",
    "NodePool", "EC2NodeClass", "NodeClaim", "AKSNodeClass",  # Karpenter's kinds are cluster-scoped
})
_DEFAULT_NAMESPACE_EXEMPT = {("Service", "kubernetes"), ("ServiceAccount", "default")}


def _validate_namespace(args: ResourceValidationArgs, report_violation) -> None:
    if not args.resource_type.startswith("kubernetes:"):
        return
    kind = kind_of(args.resource_type)
    if kind is None or kind in CLUSTER_SCOPED_KINDS or kind.endswith("List") or args.resource_type.startswith(
            ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")):
        return
    namespace = get(args.props, "metadata", "namespace")
    if namespace is None and args.provider is not None:
        namespace = get(args.provider.props, "namespace")  # the provider's default namespace
    if namespace is UNKNOWN or (kind, get(args.props, "metadata", "name")) in _DEFAULT_NAMESPACE_EXEMPT:
        return
    if namespace in (None, "", "default"):
        report_violation(f"{kind} lands in the default namespace; give it the platform's own namespace")


DEFAULT_NAMESPACE = resource_rule(
    name="k8s-no-default-namespace",
    description="Nothing is deployed to the default namespace, where no quota, network policy or RBAC boundary of "
                "the platform applies.",
    severity=Severity.LOW,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.7.4"), nist("AC-4"), iso("A.8.22")],
    validate=_validate_namespace,
    applies_to=APPLIES_TO,
)


# --- service-account token automount ------------------------------------------------------------------------------

def _token(pod: Any, metadata: Any, _args: ResourceValidationArgs, _kind: str) -> Iterator[str]:
    if get(metadata, "annotations", NEEDS_API_ANNOTATION) == "needed":
        return
    automount = get(pod, "automountServiceAccountToken")
    if automount is not False and automount is not UNKNOWN:
        yield (f"pod mounts a Kubernetes API token; set automountServiceAccountToken false, or annotate the pod "
               f"{NEEDS_API_ANNOTATION}: needed")


TOKEN_AUTOMOUNT = resource_rule(
    name="k8s-no-token-automount",
    description="Pods do not mount a Kubernetes API token unless they declare they need one, so a compromised model "
                "server cannot talk to the API server.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_K8S, "5.1.6"), nist("AC-6"), iso("A.8.2")],
    validate=_workload_rule(_token),
    applies_to=APPLIES_TO,
)

POLICIES = [RESOURCES, NON_ROOT, NO_PRIVILEGED, NO_ESCALATION, DROP_CAPABILITIES, HOST_NAMESPACES, HOST_PORTS,
            HOST_PATHS, SECCOMP, READ_ONLY_ROOT, IMAGE_PINNED, ALLOWED_REGISTRIES, PROBES, DEFAULT_NAMESPACE,
            TOKEN_AUTOMOUNT]
