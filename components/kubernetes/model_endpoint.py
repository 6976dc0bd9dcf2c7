"""A blue-green model endpoint: two Deployments of the serving image, a live and a preview Service, optional canary
and shadow traffic through a Gateway API HTTPRoute, autoscaling, alerts and a dashboard.

Promotion and rollback change ``active`` alone: that flips the selectors of the live Service (``<name>``) and the
preview Service (``<name>-preview``) and nothing else, so no pod restarts and the switch is instant. The idle
colour's replicas are its own setting (down to 0 once a promotion has settled). A canary sends ``canary_weight``
percent of the route's traffic to the idle colour; ``shadow`` mirrors every request to it (responses discarded).

Both colours are rendered by one function from one settings object, so their security settings cannot differ; only
the model URI, version, image and replica count are per colour.

The container renders the serving image's contract (the image's own settings, held equal by the project's tests):
command ``python -m serving_image``, port 8080, readiness ``/ready``, liveness ``/health``, metrics ``/metrics``,
numeric user 10001, writable ``/tmp`` only, and a grace period longer than the preStop pause plus the server's own
drain (``DRAIN_DELAY_SECONDS`` + ``DRAIN_TIMEOUT_SECONDS``).
"""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input

from ..cloud_layer import EgressTarget
from .container_resources import (
    ComputeArgs,
    ComputeSettings,
    ProbeArgs,
    ProbeSettings,
    http_probe,
    resource_requirements,
    validate_compute,
    validate_probes,
)
from .gateway_route import http_route, validate_route_args
from .gpu_placement import GpuNodesArgs, node_selector, validate_gpu_nodes
from .identity_labels import with_identity_labels
from .model_monitoring import AlertThresholds, ModelMonitoring
from .namespace import IsolatedNamespace, validate_namespace_name
from .network_access import (
    EgressTargetArgs,
    allow_policy,
    egress_rules,
    egress_target,
    egress_targets,
    namespace_peer,
    tcp_ports,
)
from .node_taints import NodeTaintArgs, toleration_args, validate_node_taints
from .pod_security import container_security_context, pod_security_context, writable_volumes
from ..tagging import tagged_options
from ..validation import (
    ArgumentError,
    optional_bool,
    optional_int,
    optional_mapping,
    optional_text,
    pinned_image,
    reject_unknown_keys,
    shown,
)

# The serving image's contract: the command, port, paths, user and directories its server implements.
SERVING_COMMAND = ["python", "-m", "serving_image"]
SERVING_PORT = 8080
READY_PATH = "/ready"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
SERVING_UID = 10001
WRITABLE_PATHS = {"tmp": "/tmp"}
RUNTIME_DIR = "/tmp/serving-image"
"""Where the workers share metrics files and readiness markers (the image's ``RUNTIME_DIR``)."""
MODEL_DOWNLOAD_DIR = "/tmp/serving-image-models"

COLOURS = ("blue", "green")
PRE_STOP_SECONDS = 5
"""Pause before SIGTERM so that kube-proxy and the gateway stop routing to a terminating pod first."""
GRACE_MARGIN_SECONDS = 10
ENDPOINT_LABEL = "mlops.dev/endpoint"
COLOUR_LABEL = "mlops.dev/colour"
MODEL_NAME_LABEL = "mlops.dev/model-name"
MODEL_VERSION_LABEL = "mlops.dev/model-version"
SERVICE_ROLE_LABEL = "mlops.dev/service-role"
_NAME = r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"
_LABEL_VALUE = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_MODEL_URI = r"(models:/|runs:/|s3://|gs://|wasbs://|abfss://|/)\S+"
DEFAULT_COMPUTE = ComputeSettings("500m", "1Gi", "2", "2Gi", 0)
DEFAULT_READINESS = ProbeSettings(initial_delay_seconds=5, period_seconds=5, timeout_seconds=2, failure_threshold=3)
DEFAULT_LIVENESS = ProbeSettings(initial_delay_seconds=30, period_seconds=10, timeout_seconds=5, failure_threshold=6)
_ARGS = frozenset({
    "name", "namespace", "model_name", "blue", "green", "active", "canary_weight", "shadow", "route", "compute",
    "readiness_probe", "liveness_probe", "autoscaling", "workers", "drain_delay_seconds", "drain_timeout_seconds",
    "slo", "service_account_annotations", "service_account_labels", "artifact_pod_env", "artifact_secret_env",
    "storage_egress", "identity_egress", "tracking", "client_namespaces", "monitoring_namespace", "gpu_nodes",
    "tolerated_taints", "monitoring", "create_namespace", "tags",
})


class ColourArgs(TypedDict):
    """What differs between blue and green."""

    model_uri: str
    """MLflow model URI (``models:/name@alias``, ``models:/name/3``, ``runs:/...``, ``s3://...``)."""
    model_version: str
    """Version label (metrics, ``/version`` and the pod label)."""
    image: str
    """Serving image, pinned by tag or digest."""
    image_digest: NotRequired[Input[str]]
    """``sha256:...`` digest appended to ``image`` (``@sha256:...``); may be an output (a registry lookup at deploy
    time). A plain string is checked here."""
    replicas: NotRequired[int]
    """Pods of this colour (0-100, default 1); 0 leaves the colour idle and costs nothing."""
    gpus: NotRequired[int]
    """GPUs per pod of this colour (0-16; default ``compute.gpus``), so a new model version can move to GPU nodes
    behind a canary while the other colour stays on CPU."""


class EndpointRouteArgs(TypedDict):
    hostname: str
    gateway_name: str
    gateway_namespace: str
    listener: NotRequired[str]
    """The Gateway's HTTPS listener (``sectionName``, default ``https``): TLS terminates there."""


class EndpointAutoscalingArgs(TypedDict):
    """CPU autoscaling of each colour, from its own replicas up."""

    max_replicas: NotRequired[int]
    """Most pods of a colour (up to 1000; default 4x the larger colour's replicas)."""
    target_cpu_percent: NotRequired[int]
    """Average CPU utilisation the autoscaler keeps (10-100, default 70)."""


class EndpointSloArgs(TypedDict):
    """The alert thresholds of the endpoint."""

    p99_latency_seconds: NotRequired[float]
    """The latency SLO: the 99th percentile must stay below it (0.001-60 seconds, default 0.5)."""
    max_error_ratio: NotRequired[float]
    """Share of requests that may fail with a server error (0.0001-0.5, default 0.01)."""
    max_drift_score: NotRequired[float]
    """Highest tolerated PSI of any feature (0.01-10, default 0.2)."""
    max_restarts: NotRequired[int]
    """Container restarts tolerated within 15 minutes (0-100, default 2)."""


class EndpointTrackingArgs(TypedDict):
    """Where the endpoint's pods reach MLflow, and as whom."""

    uri: Input[str]
    """The server's cluster-internal URL (``MlflowServer.tracking_uri``)."""
    namespace: str
    """The server's namespace: the endpoint's egress is opened to it."""
    username: Input[str]
    """A reader with READ on the endpoint's model (``MlflowServerArgs.readers``)."""
    password: Input[str]
    """That reader's password (``MlflowServer.reader_passwords[username]``); kept in a Secret."""
    port: NotRequired[int]
    """The server's port (default 5000)."""


class BlueGreenModelEndpointArgs(TypedDict):
    """Inputs of a blue-green model endpoint."""

    name: str
    """Endpoint name (a DNS label of at most 40 characters): the live Service's name."""
    namespace: str
    """Namespace to deploy into (a plain string: object names and network policies derive from it)."""
    create_namespace: NotRequired[bool]
    """Create ``namespace`` as an isolated namespace (default-deny NetworkPolicy, restricted Pod Security) and deploy
    after it (default true). False when it exists already or another component creates it (several endpoints
    sharing one namespace, as in the platform's Kubernetes layer): pass that component in ``opts.depends_on``."""
    model_name: str
    """Registered model name: the ``model_name`` of the metrics and the model label."""
    blue: ColourArgs
    green: ColourArgs
    active: str
    """``blue`` or ``green``: the colour the live Service sends traffic to."""
    canary_weight: NotRequired[int]
    """Percent (0-100) of the route's traffic sent to the idle colour (default 0). Needs ``route``."""
    shadow: NotRequired[bool]
    """Mirror every request to the idle colour too (default false). Needs ``route``."""
    route: NotRequired[EndpointRouteArgs]
    """Publish through a Gateway API HTTPRoute; absent: cluster-internal Services only."""
    compute: NotRequired[ComputeArgs]
    """Per-pod ``cpu_request``, ``memory_request``, ``cpu_limit``, ``memory_limit``, ``gpus`` (nvidia.com/gpu)."""
    readiness_probe: NotRequired[ProbeArgs]
    liveness_probe: NotRequired[ProbeArgs]
    autoscaling: NotRequired[EndpointAutoscalingArgs]
    """``max_replicas`` (default 4x replicas) and ``target_cpu_percent`` (default 70); per colour, from its replicas."""
    workers: NotRequired[int]
    """Server worker processes per pod (1-64, default 2)."""
    drain_delay_seconds: NotRequired[int]
    drain_timeout_seconds: NotRequired[int]
    slo: NotRequired[EndpointSloArgs]
    """``p99_latency_seconds`` (default 0.5), ``max_error_ratio`` (0.01), ``max_drift_score`` (0.2),
    ``max_restarts`` (2): the alert thresholds."""
    service_account_annotations: NotRequired[Input[Mapping[str, str]]]
    service_account_labels: NotRequired[Input[Mapping[str, str]]]
    artifact_pod_env: NotRequired[Input[Mapping[str, str]]]
    artifact_secret_env: NotRequired[Input[Mapping[str, str]]]
    storage_egress: NotRequired[EgressTargetArgs]
    """Where the artifact store listens (default: port 443 anywhere); the cloud layer's ``EgressTarget`` is accepted
    too."""
    identity_egress: NotRequired[list[EgressTargetArgs]]
    """Where the pods get their workload identity's tokens (the cloud layer's ``identity_egress``)."""
    tracking: NotRequired[EndpointTrackingArgs]
    """The MLflow server the ``models:/`` URIs are loaded from (``MlflowServer`` outputs and a reader's password)."""
    client_namespaces: NotRequired[list[str]]
    """Namespaces whose pods may call the endpoint directly."""
    monitoring_namespace: NotRequired[str]
    gpu_nodes: NotRequired[GpuNodesArgs]
    """The GPU nodes' labels and taints (from the cloud layer); required when a colour requests GPUs."""
    monitoring: NotRequired[bool]
    """Create the ServiceMonitor, the PrometheusRule alerts and the Grafana dashboard (default true). False on a
    cluster without the Prometheus Operator's CRDs (``monitoring.coreos.com``): nothing then scrapes the endpoint or
    pages anyone when it fails or drifts, which the policy pack's ``endpoint-monitoring`` rule reports."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""
    tolerated_taints: NotRequired[list[NodeTaintArgs]]
    """Taints of the CPU nodes that every pod of the endpoint tolerates (the cloud layer's ``cpu_taints``)."""


@dataclass(frozen=True)
class ColourSettings:
    model_uri: str
    model_version: str
    image: str
    replicas: int
    gpus: int
    image_digest: Any = None
    """A digest output to append to ``image`` at deploy time (a plain digest is already part of ``image``)."""


@dataclass(frozen=True)
class EndpointSettings:
    name: str
    namespace: str
    model_name: str
    colours: Mapping[str, ColourSettings]
    active: str
    canary_weight: int
    shadow: bool
    route: Mapping[str, str] | None
    compute: ComputeSettings
    readiness: ProbeSettings
    liveness: ProbeSettings
    max_replicas: int | None
    target_cpu_percent: int
    workers: int
    drain_delay_seconds: int
    drain_timeout_seconds: int
    thresholds: AlertThresholds
    client_namespaces: tuple[str, ...]
    monitoring_namespace: str
    gpu_nodes: GpuNodesArgs | None
    storage_egress: EgressTarget
    identity_egress: tuple[EgressTarget, ...] = ()
    tracking: Mapping[str, Any] | None = None
    monitoring: bool = True
    create_namespace: bool = True
    tolerated_taints: tuple[NodeTaintArgs, ...] = ()

    @property
    def idle(self) -> str:
        return "green" if self.active == "blue" else "blue"

    @property
    def grace_period_seconds(self) -> int:
        return PRE_STOP_SECONDS + self.drain_delay_seconds + self.drain_timeout_seconds + GRACE_MARGIN_SECONDS


def validate_endpoint_args(args: Mapping[str, Any], field: str = "endpoint") -> EndpointSettings:
    """Check ``args`` and fill defaults; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    _wired_inputs(args, field)
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise ArgumentError(f"{field}.name: {shown(name)} is not allowed; use a DNS label of at most 40 characters "
                            f"starting with a letter")
    namespace = validate_namespace_name(args.get("namespace"), f"{field}.namespace")
    model_name = _label_value(args, "model_name", field)
    compute = validate_compute(args.get("compute"), f"{field}.compute", DEFAULT_COMPUTE)
    colours = {colour: _colour(args.get(colour), f"{field}.{colour}", compute.gpus) for colour in COLOURS}
    gpu_nodes = None if args.get("gpu_nodes") is None else validate_gpu_nodes(args["gpu_nodes"], f"{field}.gpu_nodes")
    for colour, settings in colours.items():
        if settings.gpus and gpu_nodes is None:
            where = f"{field}.{colour}.gpus" if (args.get(colour) or {}).get("gpus") is not None \
                else f"{field}.compute.gpus"
            raise ArgumentError(f"{where}: {settings.gpus} is not allowed; the cluster has no GPU nodes (give the "
                                f"cloud layer a GPU pool), so use 0")
    for colour, settings in colours.items():
        _check_registry_identity(settings, model_name, f"{field}.{colour}")
    active = args.get("active")
    if active not in COLOURS:
        raise ArgumentError(f"{field}.active: {shown(active)} is not allowed; use blue or green")
    idle = "green" if active == "blue" else "blue"
    if colours[active].replicas == 0:
        raise ArgumentError(f"{field}.{active}.replicas: 0 is not allowed for the active colour; use 1 to 100")
    canary = optional_int(args, "canary_weight", field, 0, 0, 100)
    shadow = optional_bool(args, "shadow", field, False)
    route = validate_route_args(args.get("route"), f"{field}.route")
    if (canary or shadow) and route is None:
        what = f"canary_weight: {canary}" if canary else "shadow: True"
        raise ArgumentError(f"{field}.{what.split(':')[0]}: {what.split(': ')[1]} is not allowed without "
                            f"{field}.route; canary and shadow traffic go through the HTTPRoute")
    if (canary or shadow) and colours[idle].replicas == 0:
        raise ArgumentError(f"{field}.{idle}.replicas: 0 is not allowed while canary_weight or shadow sends traffic "
                            f"to the idle colour {idle}; use 1 to 100")
    autoscaling = args.get("autoscaling") or {}
    reject_unknown_keys(autoscaling, {"max_replicas", "target_cpu_percent"}, f"{field}.autoscaling")
    largest = max(c.replicas for c in colours.values())
    max_replicas = optional_int(autoscaling, "max_replicas", f"{field}.autoscaling", max(4 * largest, 1),
                                largest, 1000)
    slo = args.get("slo") or {}
    reject_unknown_keys(slo, {"p99_latency_seconds", "max_error_ratio", "max_drift_score", "max_restarts"},
                        f"{field}.slo")
    drain_delay = optional_int(args, "drain_delay_seconds", field, 5, 0, 600)
    drain_timeout = optional_int(args, "drain_timeout_seconds", field, 20, 0, 3600)
    return EndpointSettings(
        name=name,
        namespace=namespace,
        model_name=model_name,
        colours=colours,
        active=active,
        canary_weight=canary,
        shadow=shadow,
        route=route,
        compute=compute,
        readiness=validate_probes(args.get("readiness_probe"), f"{field}.readiness_probe", DEFAULT_READINESS),
        liveness=validate_probes(args.get("liveness_probe"), f"{field}.liveness_probe", DEFAULT_LIVENESS),
        max_replicas=max_replicas,
        target_cpu_percent=optional_int(autoscaling, "target_cpu_percent", f"{field}.autoscaling", 70, 10, 100),
        workers=optional_int(args, "workers", field, 2, 1, 64),
        drain_delay_seconds=drain_delay,
        drain_timeout_seconds=drain_timeout,
        thresholds=AlertThresholds(
            max_error_ratio=_fraction(slo, "max_error_ratio", f"{field}.slo", 0.01, 0.0001, 0.5),
            p99_latency_seconds=_fraction(slo, "p99_latency_seconds", f"{field}.slo", 0.5, 0.001, 60),
            max_drift_score=_fraction(slo, "max_drift_score", f"{field}.slo", 0.2, 0.01, 10),
            max_restarts=optional_int(slo, "max_restarts", f"{field}.slo", 2, 0, 100),
        ),
        client_namespaces=tuple(validate_namespace_name(n, f"{field}.client_namespaces[{i}]")
                                for i, n in enumerate(args.get("client_namespaces") or [])),
        monitoring_namespace=validate_namespace_name(args.get("monitoring_namespace", "monitoring"),
                                                     f"{field}.monitoring_namespace"),
        gpu_nodes=gpu_nodes,
        tracking=_tracking(args.get("tracking"), f"{field}.tracking"),
        monitoring=optional_bool(args, "monitoring", field, True),
        create_namespace=optional_bool(args, "create_namespace", field, True),
        storage_egress=egress_target(args.get("storage_egress"), f"{field}.storage_egress", EgressTarget(ports=(443,))),
        identity_egress=egress_targets(args.get("identity_egress"), f"{field}.identity_egress"),
        tolerated_taints=tuple(validate_node_taints(args.get("tolerated_taints"), f"{field}.tolerated_taints")),
    )


_TRACKING_REQUIRED = ("uri", "namespace", "username", "password")


def _tracking(args: Any, field: str) -> Mapping[str, Any] | None:
    if args is None:
        return None
    reject_unknown_keys(args, {*_TRACKING_REQUIRED, "port"}, field)
    for key in _TRACKING_REQUIRED:
        if args.get(key) is None:
            raise ArgumentError(f"{field}.{key}: missing; tracking needs {', '.join(_TRACKING_REQUIRED)} (the MLflow "
                                f"server's tracking_uri and namespace, and a reader's username and password)")
    optional_text(args, "uri", field, r"https?://\S+", "the MLflow server's http:// or https:// URL")
    optional_text(args, "username", field, r"\S+", "an MLflow user name")
    validate_namespace_name(args["namespace"], f"{field}.namespace")
    return {**args, "port": optional_int(args, "port", field, 5000, 1, 65535)}


def _wired_inputs(args: Mapping[str, Any], field: str) -> None:
    """The inputs a cloud layer usually wires, checked for what a program can get wrong by hand."""
    for key, meaning in (("service_account_annotations", "annotations"), ("service_account_labels", "labels"),
                         ("artifact_pod_env", "environment variables"),
                         ("artifact_secret_env", "environment variables")):
        optional_mapping(args, key, field, meaning)


def _colour(args: Any, field: str, default_gpus: int) -> ColourSettings:
    if args is None:
        raise ArgumentError(f"{field}: missing; both colours need model_uri, model_version and image")
    reject_unknown_keys(args, {"model_uri", "model_version", "image", "image_digest", "replicas", "gpus"}, field)
    uri = args.get("model_uri")
    if not isinstance(uri, str) or not re.fullmatch(_MODEL_URI, uri):
        raise ArgumentError(f"{field}.model_uri: {shown(uri)} is not allowed; use an MLflow model URI (models:/, "
                            f"runs:/, "
                            f"s3://, gs://, wasbs://)")
    image = pinned_image(args.get("image"), f"{field}.image")
    digest = args.get("image_digest")
    if digest is not None and not isinstance(digest, pulumi.Output):
        if not isinstance(digest, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest) or "@" in image:
            raise ArgumentError(f"{field}.image_digest: {shown(digest)} is not allowed; use sha256: and 64 hex digits, "
                                f"with an image that has no digest of its own")
        image, digest = f"{image}@{digest}", None
    return ColourSettings(uri, _label_value(args, "model_version", field), image,
                          optional_int(args, "replicas", field, 1, 0, 100),
                          optional_int(args, "gpus", field, default_gpus, 0, 16), digest)


def _check_registry_identity(colour: ColourSettings, model_name: str, field: str) -> None:
    """A ``models:/`` URI names the model (and maybe the version) that the server labels its metrics with; the
    alerts and dashboards select ``model_name``/``model_version``, so a mismatch would leave them watching nothing."""
    match = re.fullmatch(r"models:/(?P<name>[^/@]+)(/(?P<version>\d+)|@.+|/latest)?", colour.model_uri)
    if match is None:
        return
    if match["name"] != model_name:
        raise ArgumentError(f"{field}.model_uri: {shown(colour.model_uri)} is not allowed with model_name "
                            f"{shown(model_name)}; "
                            f"the registry model must be the endpoint's model_name, which its alerts select")
    if match["version"] is not None and match["version"] != colour.model_version:
        raise ArgumentError(f"{field}.model_version: {shown(colour.model_version)} is not allowed with model_uri "
                            f"{shown(colour.model_uri)}; use {shown(match['version'])}, the version the URI names")


def _label_value(args: Mapping[str, Any], key: str, field: str) -> str:
    value = args.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(_LABEL_VALUE, value):
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use a label value (letters, digits, '-', "
                            f"'_', '.', at most 63)")
    return value


def _fraction(args: Mapping[str, Any], key: str, field: str, default: float, low: float, high: float) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use a number from {low:g} to {high:g}")
    return float(value)


def serving_env(settings: EndpointSettings, colour: str) -> list[k8s.core.v1.EnvVarArgs]:
    """The serving image's own variables, for one colour."""
    model = settings.colours[colour]
    values = {
        "MODEL_URI": model.model_uri,
        "MODEL_NAME": settings.model_name,
        "MODEL_VERSION": model.model_version,
        "HOST": "0.0.0.0",
        "PORT": str(SERVING_PORT),
        "WORKERS": str(settings.workers),
        "DRAIN_DELAY_SECONDS": str(settings.drain_delay_seconds),
        "DRAIN_TIMEOUT_SECONDS": str(settings.drain_timeout_seconds),
        "RUNTIME_DIR": RUNTIME_DIR,
        "MODEL_DOWNLOAD_DIR": MODEL_DOWNLOAD_DIR,
    }
    return [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in values.items()]


def pod_labels(settings: EndpointSettings, colour: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": settings.name,
        "app.kubernetes.io/component": "model-server",
        ENDPOINT_LABEL: settings.name,
        COLOUR_LABEL: colour,
        MODEL_NAME_LABEL: settings.model_name,
        MODEL_VERSION_LABEL: settings.colours[colour].model_version,
    }


class BlueGreenModelEndpoint(pulumi.ComponentResource):
    """Two colours of a model server behind a live and a preview Service."""

    live_service: pulumi.Output[str]
    preview_service: pulumi.Output[str]
    url: pulumi.Output[str]
    """Cluster-internal URL of the live Service."""

    def __init__(self, name: str, args: BlueGreenModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_endpoint_args(args, field=name)
        super().__init__("mlops:kubernetes:BlueGreenModelEndpoint", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        # Children do not inherit the component's depends_on: what the endpoint was told to wait for (the component
        # that creates its namespace, the monitoring stack's CRDs), each object it creates waits for.
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts is not None else None)
        ns, endpoint = settings.namespace, settings.name
        if settings.create_namespace:
            namespace = IsolatedNamespace(f"{name}-namespace", {"name": ns}, opts=child)
            child = child.merge(pulumi.ResourceOptions(depends_on=[namespace]))

        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=endpoint, namespace=ns,
                annotations=args.get("service_account_annotations") or {},
                labels=args.get("service_account_labels") or {}),
            automount_service_account_token=False,
            opts=child,
        )
        env_from: list[k8s.core.v1.EnvFromSourceArgs] = []
        secret_env: dict[str, Input[str]] = {}
        if args.get("artifact_secret_env") is not None:
            secret_env_output = pulumi.Output.secret(args["artifact_secret_env"])
        else:
            secret_env_output = None
        tracking = settings.tracking
        extra_env = pulumi.Output.from_input(args.get("artifact_pod_env") or {})
        if tracking:
            extra_env = pulumi.Output.all(extra_env, tracking["uri"]).apply(
                lambda parts: {**parts[0], "MLFLOW_TRACKING_URI": parts[1]})
            secret_env = {"MLFLOW_TRACKING_USERNAME": tracking["username"],
                          "MLFLOW_TRACKING_PASSWORD": tracking["password"]}
        if secret_env_output is not None or secret_env:
            data = pulumi.Output.all(secret_env_output or {}, pulumi.Output.all(**secret_env) if secret_env else {})
            k8s.core.v1.Secret(
                f"{name}-credentials",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{endpoint}-credentials", namespace=ns),
                type="Opaque",
                string_data=pulumi.Output.secret(data.apply(lambda parts: {**parts[0], **parts[1]})),
                opts=child,
            )
            env_from.append(k8s.core.v1.EnvFromSourceArgs(
                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=f"{endpoint}-credentials")))

        for colour in COLOURS:
            self._colour(name, settings, colour, extra_env, env_from, args.get("service_account_labels"), child)

        selector = {ENDPOINT_LABEL: endpoint}
        for role, colour, service_name in (("live", settings.active, endpoint),
                                           ("preview", settings.idle, f"{endpoint}-preview")):
            k8s.core.v1.Service(
                f"{name}-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=service_name, namespace=ns, labels={**selector, SERVICE_ROLE_LABEL: role}),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector={**selector, COLOUR_LABEL: colour},
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http", protocol="TCP")],
                ),
                opts=child,
            )
        if settings.monitoring:
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=endpoint, namespace=ns, labels=selector),
                spec={
                    "selector": {"matchLabels": selector},
                    "namespaceSelector": {"matchNames": [ns]},
                    "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": "15s"}],
                },
                opts=child,
            )
        if settings.route is not None:
            self._route(name, settings, settings.route, child)
        ingress_from = [namespace_peer(n) for n in settings.client_namespaces]
        if settings.route:
            ingress_from.append(namespace_peer(settings.route["gateway_namespace"]))
        scrapers = [namespace_peer(settings.monitoring_namespace)] if settings.monitoring else []
        peers = [*scrapers, *ingress_from]
        # A rule without peers would admit every source: no peers means no ingress at all.
        ingress = [k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=peers, ports=tcp_ports([SERVING_PORT]))] \
            if peers else []
        targets = [settings.storage_egress, *settings.identity_egress]
        if tracking:
            targets.append(EgressTarget(ports=(tracking["port"],), namespace=tracking["namespace"]))
        egress = egress_rules(targets)
        allow_policy(f"{name}-allow", ns, selector, ingress=ingress, egress=egress, opts=child)
        if settings.monitoring:
            ModelMonitoring(f"{name}-monitoring", {
                "namespace": ns, "endpoint": endpoint, "model_name": settings.model_name,
                "thresholds": settings.thresholds,
                "gpu": any(colour.gpus for colour in settings.colours.values())}, opts=child)

        self.live_service = pulumi.Output.from_input(endpoint)
        self.preview_service = pulumi.Output.from_input(f"{endpoint}-preview")
        self.url = pulumi.Output.from_input(f"http://{endpoint}.{ns}.svc.cluster.local")
        self.register_outputs({"live_service": self.live_service, "preview_service": self.preview_service,
                               "url": self.url})

    def _colour(self, name: str, settings: EndpointSettings, colour: str, extra_env: pulumi.Output,
                env_from: list, identity_labels: Input[Mapping[str, str]] | None,
                child: pulumi.ResourceOptions) -> None:
        ns, endpoint = settings.namespace, settings.name
        model = settings.colours[colour]
        labels = pod_labels(settings, colour)
        selector = {ENDPOINT_LABEL: endpoint, COLOUR_LABEL: colour}
        volumes, mounts = writable_volumes(WRITABLE_PATHS, size_limit="10Gi")
        gpu_nodes = settings.gpu_nodes if model.gpus else None  # validation ensures it is set when GPUs are asked
        env = extra_env.apply(lambda plain: [
            *serving_env(settings, colour),
            *[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(plain.items())],
        ])
        container = k8s.core.v1.ContainerArgs(
            name="model-server",
            image=model.image if model.image_digest is None else
            model.image_digest.apply(lambda resolved: f"{model.image}@{resolved}"),
            image_pull_policy="IfNotPresent",
            command=list(SERVING_COMMAND),
            env=env,
            env_from=env_from or None,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=SERVING_PORT, protocol="TCP")],
            readiness_probe=http_probe(READY_PATH, "http", settings.readiness),
            liveness_probe=http_probe(HEALTH_PATH, "http", settings.liveness),
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=PRE_STOP_SECONDS))),
            resources=resource_requirements(dataclasses.replace(settings.compute, gpus=model.gpus)),
            security_context=container_security_context(SERVING_UID),
            volume_mounts=mounts,
        )
        autoscaled = model.replicas > 0
        deployment = k8s.apps.v1.Deployment(
            f"{name}-{colour}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{endpoint}-{colour}", namespace=ns, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=model.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge="25%")),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=with_identity_labels(labels, identity_labels)),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=endpoint,
                        automount_service_account_token=False,
                        security_context=pod_security_context(SERVING_UID),
                        termination_grace_period_seconds=settings.grace_period_seconds,
                        volumes=volumes,
                        containers=[container],
                        node_selector=node_selector(gpu_nodes) if gpu_nodes else None,
                        tolerations=toleration_args(settings.tolerated_taints,
                                                    (gpu_nodes.get("taints") or []) if gpu_nodes else []),
                    ),
                ),
            ),
            # The autoscaler owns the replica count once it runs; a preview must not fight it.
            opts=child.merge(pulumi.ResourceOptions(ignore_changes=["spec.replicas"] if autoscaled else None)),
        )
        if autoscaled:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{colour}-autoscaler",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{endpoint}-{colour}", namespace=ns),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=f"{endpoint}-{colour}"),
                    min_replicas=model.replicas,
                    max_replicas=max(settings.max_replicas or 1, model.replicas),
                    metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=settings.target_cpu_percent)),
                    )],
                ),
                opts=child.merge(pulumi.ResourceOptions(depends_on=[deployment])),
            )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-{colour}-disruption-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{endpoint}-{colour}", namespace=ns),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
            opts=child,
        )

    def _route(self, name: str, settings: EndpointSettings, route: Mapping[str, str],
               child: pulumi.ResourceOptions) -> None:
        endpoint = settings.name
        live = {"name": endpoint, "port": 80, "weight": 100 - settings.canary_weight}
        preview = {"name": f"{endpoint}-preview", "port": 80, "weight": settings.canary_weight}
        rule: dict[str, Any] = {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [live, preview] if settings.canary_weight else [live],
            "timeouts": {"request": "60s"},
        }
        if settings.shadow:
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": {
                "backendRef": {"name": f"{endpoint}-preview", "port": 80}}}]
        http_route(f"{name}-route", name=endpoint, namespace=settings.namespace, route=route, rules=[rule],
                   opts=child)
