"""The cloud-neutral Kubernetes layer of the platform: monitoring, MLflow and the model endpoints, on top of any
:class:`mlops_platform.cloud_layer.CloudLayer`.

``validate_kubernetes_layer_args`` checks the stack's ``mlflow``, ``monitoring`` and ``endpoints`` sections before
anything exists; ``KubernetesLayer`` (its inputs are ``KubernetesLayerArgs``) checks them again and then builds, with
the cloud layer's Kubernetes provider: the Prometheus stack
(first, so its CRDs exist before any ServiceMonitor or PrometheusRule), the MLflow server with a workload identity
bound to its ServiceAccount, a default-deny ``models`` namespace, and one blue-green endpoint per configured entry,
each with its own workload identity and its own MLflow user (``endpoint-<name>``, READ on its registered model and
the experiments of the versions it serves; never the MLflow admin's credentials).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi

from ..cloud_layer import CloudLayer, GpuCapacity
from ..images import SERVING_REPOSITORY, TRACKING_REPOSITORY, ImageSettings, validate_images
from .database_bootstrap import OBJECT_NAME as DATABASE_BOOTSTRAP_ACCOUNT
from .gpu_node_daemons import GpuNodeDaemons
from .gpu_placement import gpu_nodes_args
from .mlflow_server import MlflowServer, validate_mlflow_server_args
from .model_endpoint import BlueGreenModelEndpoint, validate_endpoint_args
from .namespace import IsolatedNamespace, validate_namespace_name
from .node_taints import node_taint_args
from .prometheus_stack import PrometheusStack, validate_prometheus_stack_args
from ..tagging import tagged_options
from ..validation import ArgumentError, reject_unknown_keys

MLFLOW_NAMESPACE = "mlflow"
_MLFLOW_KEYS = frozenset({"replicas", "workers", "compute", "probes", "route", "allowed_hosts"})
"""The MLflow server's image comes from ``mlops:images``, the one place a stack names its images."""
_COLOUR_IMAGE_KEYS = ("image", "image_digest")
_ENDPOINT_WIRED = frozenset({"namespace", "service_account_annotations", "service_account_labels",
                             "artifact_pod_env", "artifact_secret_env", "storage_egress", "identity_egress",
                             "tracking", "monitoring_namespace", "gpu_nodes", "tolerated_taints", "monitoring",
                             "create_namespace", "tags"})
_MONITORING_WIRED = frozenset({"tolerated_taints"})
_ARGS = frozenset({"cloud_layer", "images", "mlflow", "monitoring", "endpoints", "models_namespace", "tags"})


class KubernetesLayerArgs(TypedDict):
    """Inputs of the Kubernetes layer: the cloud layer it builds on, and the same sections a stack's config holds."""

    cloud_layer: CloudLayer
    """What a cloud layer hands over (``mlops_platform.cloud_layer.CloudLayer``): the cluster's Kubernetes provider,
    which every object of this layer is created with, the artifact store, the database and the identities. To use an
    existing cluster, build it with that cluster's provider (``LocalLayer`` does, for any kubeconfig context)."""
    images: Mapping[str, Any]
    """The platform's images: ``registry``, ``tracking_tag``, ``serving_tag`` and their digests (see
    ``mlops_platform.images``)."""
    mlflow: NotRequired[Mapping[str, Any]]
    """The MLflow server: ``replicas``, ``workers``, ``compute``, ``probes``, ``route``, ``allowed_hosts``."""
    monitoring: NotRequired[Mapping[str, Any]]
    """The Prometheus stack (``mlops_platform.kubernetes.prometheus_stack.PrometheusStackArgs``)."""
    endpoints: NotRequired[list[Mapping[str, Any]]]
    """The blue-green model endpoints (``BlueGreenModelEndpointArgs`` without the fields this layer wires)."""
    models_namespace: NotRequired[str]
    """The namespace the layer creates for the endpoints (default ``models``)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the layer creates (canonical rules, ``mlops_platform.tags``)."""


def endpoint_user(endpoint_name: str) -> str:
    """The MLflow user of one model endpoint: READ on its registered model only."""
    return f"endpoint-{endpoint_name}"


def registry_versions(endpoint: Mapping[str, Any]) -> list[str]:
    """The numbered registry versions the endpoint's colours load (``models:/<name>/<n>``): its MLflow user may
    read the experiments that hold them, because model files download through MLflow's per-experiment proxy."""
    versions = []
    for colour in ("blue", "green"):
        match = re.fullmatch(r"models:/[^/@]+/(\d+)", str((endpoint.get(colour) or {}).get("model_uri", "")))
        if match:
            versions.append(match.group(1))
    return list(dict.fromkeys(versions))


@dataclass(frozen=True)
class KubernetesLayerSettings:
    monitoring: Mapping[str, Any]
    monitoring_namespace: str
    mlflow: Mapping[str, Any]
    models_namespace: str
    endpoints: tuple[Mapping[str, Any], ...]
    images: ImageSettings


def validate_kubernetes_layer_args(mlflow: Any, monitoring: Any, endpoints: Any, images: Any,
                                   models_namespace: Any = "models", prefix: str = "",
                                   gpu: GpuCapacity | None = None) -> KubernetesLayerSettings:
    """Validate the stack sections with each component's own validator (without the values the cloud layer
    supplies), so a bad endpoint fails before the cloud layer creates anything. ``gpu`` is the GPU
    capacity the cloud layer will report: an endpoint may request GPUs only when there is some."""
    monitoring = dict(monitoring or {})
    wired = sorted(_MONITORING_WIRED & set(monitoring))
    if wired:
        raise ArgumentError(f"{prefix}monitoring.{wired[0]}: not allowed in stack config; the platform sets it")
    monitoring_settings = validate_prometheus_stack_args(monitoring, field=f"{prefix}monitoring")
    image_settings = validate_images(images, f"{prefix}images")
    mlflow = dict(mlflow or {})
    if set(_COLOUR_IMAGE_KEYS) & set(mlflow):
        key = sorted(set(_COLOUR_IMAGE_KEYS) & set(mlflow))[0]
        raise ArgumentError(f"{prefix}mlflow.{key}: not allowed in stack config; set {prefix}images (registry, "
                            f"tracking_tag, tracking_digest), the one place the platform's images are named")
    reject_unknown_keys(mlflow, _MLFLOW_KEYS, f"{prefix}mlflow")
    mlflow["image"] = image_settings.tracking
    if image_settings.tracking_digest:
        mlflow["image_digest"] = image_settings.tracking_digest
    models = validate_namespace_name(models_namespace, f"{prefix}models_namespace")
    validate_mlflow_server_args(
        {**mlflow, "namespace": MLFLOW_NAMESPACE, "client_namespaces": [models],
         "monitoring_namespace": monitoring_settings.namespace},
        field=f"{prefix}mlflow", wiring=False)
    if endpoints is None:
        endpoints = []
    if not isinstance(endpoints, Sequence) or isinstance(endpoints, (str, bytes)):
        raise ArgumentError(f"{prefix}endpoints: {endpoints!r} is not allowed; use a list of endpoint settings")
    seen: set[str] = set()
    checked: list[Mapping[str, Any]] = []
    for index, endpoint in enumerate(endpoints):
        field = f"{prefix}endpoints[{index}]"
        if not isinstance(endpoint, Mapping):
            raise ArgumentError(f"{field}: {endpoint!r} is not allowed; use a mapping of endpoint settings")
        wired = sorted(_ENDPOINT_WIRED & set(endpoint))
        if wired:
            raise ArgumentError(f"{field}.{wired[0]}: not allowed in stack config; the platform sets it")
        endpoint = dict(endpoint)
        for colour in ("blue", "green"):
            if isinstance(endpoint.get(colour), Mapping):
                named = sorted(set(_COLOUR_IMAGE_KEYS) & set(endpoint[colour]))
                if named:
                    raise ArgumentError(f"{field}.{colour}.{named[0]}: not allowed in stack config; set "
                                        f"{prefix}images (registry, serving_tag, serving_digest), the one place the "
                                        f"platform's images are named")
                endpoint[colour] = {**endpoint[colour], "image": image_settings.serving,
                                    **({"image_digest": image_settings.serving_digest}
                                       if image_settings.serving_digest else {})}
        validate_endpoint_args({**endpoint, "namespace": models, "monitoring_namespace": monitoring_settings.namespace,
                                **({"gpu_nodes": gpu_nodes_args(gpu)} if gpu else {})}, field=field)
        if endpoint["name"] in seen:
            raise ArgumentError(f"{field}.name: {endpoint['name']!r} is not allowed; it is already used by another "
                                f"endpoint")
        seen.add(endpoint["name"])
        checked.append(endpoint)
    return KubernetesLayerSettings(monitoring=monitoring, monitoring_namespace=monitoring_settings.namespace,
                                   mlflow=mlflow, models_namespace=models, endpoints=tuple(checked),
                                   images=image_settings)


class KubernetesLayer(pulumi.ComponentResource):
    """Monitoring, MLflow and the model endpoints on one cluster."""

    mlflow_tracking_uri: pulumi.Output[str]
    mlflow_admin_password: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    endpoint_urls: pulumi.Output[Mapping[str, str]]

    def __init__(self, name: str, args: KubernetesLayerArgs, opts: pulumi.ResourceOptions | None = None):
        reject_unknown_keys(args, _ARGS, name)
        cloud = args.get("cloud_layer")
        if not isinstance(cloud, CloudLayer):
            raise ArgumentError(f"{name}.cloud_layer: {type(cloud).__name__} is not allowed; use the CloudLayer of a "
                                f"cloud layer (the build_*_layer functions, or LocalLayer(...).layer)")
        settings = validate_kubernetes_layer_args(args.get("mlflow"), args.get("monitoring"), args.get("endpoints"),
                                                  args.get("images"), args.get("models_namespace", "models"),
                                                  gpu=cloud.gpu)
        super().__init__("mlops:kubernetes:KubernetesLayer", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cloud.kubernetes_provider})
        # Every pod of the platform tolerates the taints of the cloud's CPU nodes (AKS's Spot taint), so it runs
        # on the capacity the stack chose.
        tolerated = node_taint_args(cloud.cpu_taints)
        monitoring = PrometheusStack(f"{name}-monitoring", {**settings.monitoring,
                                                            **({"tolerated_taints": tolerated} if tolerated else {})},
                                     opts=on_cluster)
        after_monitoring = on_cluster.merge(pulumi.ResourceOptions(depends_on=[monitoring]))
        if cloud.gpu is not None:
            # Without the device plugin no node advertises nvidia.com/gpu, and no GPU pod ever schedules.
            GpuNodeDaemons(f"{name}-gpu", {"gpu_nodes": gpu_nodes_args(cloud.gpu),
                                           "device_plugin": not cloud.gpu.managed_device_plugin,
                                           "monitoring_namespace": settings.monitoring_namespace},
                           opts=after_monitoring)

        images = settings.images
        if images.digests_from_registry and cloud.image_digest is None:
            raise ArgumentError("images.digests: 'registry' is not allowed on this cloud layer; it has no registry "
                                "to read digests from, so write tracking_digest and serving_digest instead")
        registry_digests = {
            repository: cloud.image_digest(images.registry, repository, tag)
            for repository, tag in ((TRACKING_REPOSITORY, images.tracking_tag), (SERVING_REPOSITORY, images.serving_tag))
        } if images.digests_from_registry and cloud.image_digest is not None else {}

        # MLflow's identity also signs in to the database as MLflow's own role; the bootstrap Job's reads the admin's.
        identity = cloud.workload_identity(f"{name}-mlflow", MLFLOW_NAMESPACE, "mlflow", database_user=True)
        mlflow_args: dict[str, Any] = {
            **settings.mlflow,
            **({"image_digest": registry_digests[TRACKING_REPOSITORY]} if registry_digests else {}),
            "namespace": MLFLOW_NAMESPACE,
            "database": cloud.database,
            "artifact_uri": cloud.artifact_uri,
            "artifact_pod_env": cloud.artifact_pod_env,
            "service_account_annotations": identity.annotations,
            "service_account_labels": identity.labels,
            "database_egress": cloud.database_egress,
            "storage_egress": cloud.storage_egress,
            "identity_egress": list(cloud.identity_egress),
            "tolerated_taints": tolerated,
            "client_namespaces": [settings.models_namespace],
            "monitoring_namespace": settings.monitoring_namespace,
            # Each endpoint reads only its own registered model, with its own MLflow user (not the admin's).
            "readers": [{"username": endpoint_user(e["name"]), "model_name": e["model_name"],
                         "model_versions": registry_versions(e)} for e in settings.endpoints],
        }
        if cloud.artifact_secret_env is not None:
            mlflow_args["artifact_secret_env"] = cloud.artifact_secret_env
        if cloud.credential_egress is not None:
            mlflow_args["credential_egress"] = cloud.credential_egress
        if cloud.database.admin.identity is not None:
            admin = cloud.database.admin.identity(f"{name}-mlflow-database-admin", MLFLOW_NAMESPACE,
                                                  DATABASE_BOOTSTRAP_ACCOUNT)
            mlflow_args["database_admin_annotations"] = admin.annotations
            mlflow_args["database_admin_labels"] = admin.labels
        mlflow = MlflowServer(f"{name}-mlflow", mlflow_args, opts=after_monitoring)

        models = IsolatedNamespace(f"{name}-models", {"name": settings.models_namespace}, opts=on_cluster)
        in_models = after_monitoring.merge(pulumi.ResourceOptions(depends_on=[monitoring, models]))
        urls: dict[str, pulumi.Output[str]] = {}
        for endpoint in settings.endpoints:
            endpoint_name = endpoint["name"]
            # A model server only reads model files: its identity cannot write or delete anything in the store.
            endpoint_identity = cloud.workload_identity(f"{name}-{endpoint_name}", settings.models_namespace,
                                                        endpoint_name, read_only=True)
            endpoint_args: dict[str, Any] = {
                **endpoint,
                **({colour: {**endpoint[colour], "image_digest": registry_digests[SERVING_REPOSITORY]}
                    for colour in ("blue", "green")} if registry_digests else {}),
                "namespace": settings.models_namespace,
                "create_namespace": False,  # the layer's own models namespace, shared by every endpoint
                "monitoring_namespace": settings.monitoring_namespace,
                "service_account_annotations": endpoint_identity.annotations,
                "service_account_labels": endpoint_identity.labels,
                "artifact_pod_env": cloud.artifact_pod_env,
                "storage_egress": cloud.storage_egress,
                "identity_egress": list(cloud.identity_egress),
                "tolerated_taints": tolerated,
                **({"gpu_nodes": gpu_nodes_args(cloud.gpu)} if cloud.gpu else {}),
                "tracking": {"uri": mlflow.tracking_uri, "namespace": MLFLOW_NAMESPACE,
                             "username": endpoint_user(endpoint_name),
                             "password": mlflow.reader_passwords[endpoint_user(endpoint_name)]},
            }
            if cloud.artifact_secret_env is not None:
                endpoint_args["artifact_secret_env"] = cloud.artifact_secret_env
            deployed = BlueGreenModelEndpoint(f"{name}-endpoint-{endpoint_name}", endpoint_args, opts=in_models)
            urls[endpoint_name] = deployed.url

        self.mlflow_tracking_uri = mlflow.tracking_uri
        self.mlflow_admin_password = mlflow.admin_password
        self.grafana_admin_password = monitoring.grafana_admin_password
        self.endpoint_urls = pulumi.Output.all(**urls) if urls else pulumi.Output.from_input({})
        self.register_outputs({"mlflow_tracking_uri": self.mlflow_tracking_uri,
                               "endpoint_urls": self.endpoint_urls})
