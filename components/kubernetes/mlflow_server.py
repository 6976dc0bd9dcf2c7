"""The MLflow tracking server and model registry, in its own isolated namespace.

What it gives: a namespace with default-deny NetworkPolicy; a ServiceAccount carrying the cloud layer's
workload-identity annotations (so the server reaches the artifact store and signs in to the database without
keys); a Secret with the basic-auth configuration and generated admin password and CSRF key (all Pulumi secrets); a
database bootstrap Job (``database_bootstrap``) that creates MLflow's own PostgreSQL role as the admin; a migration
Job (``mlflow db upgrade``, as MLflow's role) that the Deployment waits for, so a new MLflow version never serves
against an old schema; a Deployment running ``mlflow server`` with proxied artifacts (``--serve-artifacts
--artifacts-destination <bucket>``), MLflow's basic-auth app, Prometheus metrics on ``/metrics`` and probes on
``/health``, non-root with a read-only root filesystem; a Service, a PodDisruptionBudget, NetworkPolicies (ingress
from the allowed namespaces and Prometheus; egress to the database and the artifact store) and, unless
``monitoring`` is false (a cluster without the Prometheus Operator), a ServiceMonitor (which authenticates with the
metrics credentials: MLflow 3.17.2's basic-auth fails closed, so ``/metrics`` answers admins only); with
``readers``, a users Job (``<name>-users``) that, once the Deployment is ready, creates one least-privilege MLflow
user per model endpoint; optionally a Gateway API HTTPRoute on an HTTPS listener.

A reader gets READ on its registered model and READ on the experiments that hold the model versions it serves:
``models:/`` URIs download through the artifact proxy, which MLflow authorizes by experiment, so the model grant
alone cannot load a model. The served versions are part of the Job's spec, so changing them re-runs the Job.

The image must contain MLflow 3.17.2 with its ``auth`` extra (Flask-WTF), the PostgreSQL driver (psycopg2), the
storage client of every cloud (boto3, google-cloud-storage, azure-storage-blob) and prometheus-flask-exporter (for
``--expose-prometheus``), run as the numeric user ``MLFLOW_UID`` and need no writable path but ``/tmp``: the
project's tracking image (``mlops_platform.images.TRACKING_REPOSITORY``) is such an image. Pin it by tag and, for
production, by digest (``image_digest``).

Every pod that opens a database connection (server, migration, bootstrap) signs in the way the cloud layer's
``DatabaseAccess`` says, rendered by ``database_login``: the backend store URI names the user and TLS but never a
password.

What it deliberately does not: create the database or the bucket (the cloud layer does), or grant anything beyond
the readers' READ (people and training pipelines get their permissions from an admin, through MLflow's permission
API).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
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
from .database_bootstrap import DatabaseBootstrap
from .database_login import (
    DatabaseAccessArgs,
    backend_uri,
    database_access,
    login_secret,
    pod_login,
    validate_database_access,
)
from .gateway_route import http_route, validate_route_args
from .identity_labels import with_identity_labels
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

MLFLOW_PORT = 5000
MLFLOW_UID = 10001
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
METRICS_DIR = "/tmp/mlflow-metrics"
AUTH_CONFIG_PATH = "/etc/mlflow/auth/basic_auth.ini"
ADMIN_USERNAME = "admin"
USERNAME_PATTERN = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
"""Reader names double as Secret keys, so they keep to a DNS label."""
USERS_COMPUTE = ComputeSettings("50m", "128Mi", "500m", "256Mi", 0)
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
_ARTIFACT_URI = r"(s3|gs|wasbs|abfss)://\S+"
UPLOAD_TIMEOUT_SECONDS = 600
"""Longest a single artifact upload or download may take through the route; large model files need minutes."""
DEFAULT_COMPUTE = ComputeSettings("500m", "2Gi", "2", "3Gi", 0)
"""Sized from the live test's measurement of the rendered server (4 workers, job runner off, PostgreSQL backend):
the process tree holds about 1.55 GiB resident idle and after a burst of requests, so 2Gi requested and 3Gi as the
limit (about half again as headroom for uploads). Scale both with ``workers`` (about 390 MiB each)."""
JOB_EXECUTION = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS": "false"}
"""The server's job runner is off on every replica: with it on, each replica starts several huey consumer processes
before serving a request and holds the periodic tasks that must run on exactly one replica. A platform that wants
MLflow's server jobs runs them on one dedicated replica with its own memory budget."""
DEFAULT_PROBES = ProbeSettings(initial_delay_seconds=10, period_seconds=10, timeout_seconds=5, failure_threshold=6)
SERVER_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}
SCHEMA_UPGRADE_COMMAND = ["python", "-m", "serving_image.tracking.schema_upgrade"]
"""``mlflow db upgrade`` with the backend store URI read from ``MLFLOW_BACKEND_STORE_URI``."""
DATABASE_LOGIN_SECRET = "mlflow-database-login"
"""The Secret of a static database login (``local`` only)."""
USERS_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "users"}
_ARGS = frozenset({
    "namespace", "image", "image_digest", "database", "artifact_uri", "artifact_pod_env",
    "artifact_secret_env", "service_account_annotations", "service_account_labels", "database_egress",
    "database_admin_annotations", "database_admin_labels", "credential_egress", "storage_egress",
    "identity_egress", "tolerated_taints", "replicas", "workers", "compute", "probes", "client_namespaces",
    "monitoring_namespace", "route", "allowed_hosts", "readers", "monitoring", "tags",
})

USERS_SCRIPT = """\
import base64, json, os, urllib.error, urllib.parse, urllib.request

base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
admin = os.environ["MLFLOW_TRACKING_USERNAME"] + ":" + os.environ["MLFLOW_TRACKING_PASSWORD"]
headers = {"Authorization": "Basic " + base64.b64encode(admin.encode()).decode(),
           "Content-Type": "application/json"}


def call(method, path, body):
    data = None if method == "GET" else json.dumps(body).encode()
    query = "?" + urllib.parse.urlencode(body) if method == "GET" and body else ""
    request = urllib.request.Request(base + path + query, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"message": text.decode(errors="replace")}


def ok(status, reply, what):
    if status != 200:
        raise SystemExit(f"{what}: HTTP {status} {reply}")


for user in json.loads(os.environ["MLFLOW_USERS"]):
    name, password = user["username"], os.environ[user["password_env"]]
    status, reply = call("POST", "/api/2.0/mlflow/users/create", {"username": name, "password": password})
    if reply.get("error_code") == "RESOURCE_ALREADY_EXISTS":
        status, reply = call("PATCH", "/api/2.0/mlflow/users/update-password",
                             {"username": name, "password": password})
    ok(status, reply, f"user {name}")
    grants = [("registered_model", user["model_name"])]
    for version in user["model_versions"]:
        status, reply = call("GET", "/api/2.0/mlflow/model-versions/get",
                             {"name": user["model_name"], "version": version})
        ok(status, reply, f"model version {user['model_name']}/{version}")
        found = reply["model_version"]
        if found.get("run_id"):
            status, reply = call("GET", "/api/2.0/mlflow/runs/get", {"run_id": found["run_id"]})
            ok(status, reply, f"run of {user['model_name']}/{version}")
            grants.append(("experiment", reply["run"]["info"]["experiment_id"]))
        else:
            status, reply = call("GET", "/api/2.0/mlflow/logged-models/" + found["model_id"], {})
            ok(status, reply, f"logged model of {user['model_name']}/{version}")
            grants.append(("experiment", reply["model"]["info"]["experiment_id"]))
    for resource_type, resource_id in dict.fromkeys(grants):
        grant = {"username": name, "resource_type": resource_type, "resource_id": resource_id}
        status, reply = call("POST", "/api/3.0/mlflow/users/permissions/grant", {**grant, "permission": "READ"})
        if reply.get("error_code") == "RESOURCE_ALREADY_EXISTS":
            # Converge an existing grant to READ (an admin may have widened it by hand).
            ok(*call("POST", "/api/3.0/mlflow/users/permissions/revoke", grant), f"revoke {name}")
            status, reply = call("POST", "/api/3.0/mlflow/users/permissions/grant", {**grant, "permission": "READ"})
        ok(status, reply, f"READ on {resource_type} {resource_id} for {name}")
    print(f"user {name} ready")
"""
"""Run by the users Job with the tracking image's Python: create each user or reset its password, then grant READ
on its registered model and on the experiments of its served versions. Idempotent, so a re-run (new endpoint, rotated password) converges. Passwords come
only from the environment (Secrets), never from the command line."""


class MlflowReaderArgs(TypedDict):
    """An MLflow user that may only read one registered model (a model endpoint loading ``models:/`` URIs)."""

    username: str
    """DNS-label user name (e.g. ``endpoint-churn``), not ``admin`` or ``metrics``."""
    model_name: str
    """The registered model it may READ."""
    model_versions: list[str]
    """The registry versions it serves (already registered when the Job runs); READ on the experiments that hold
    them. Aliases are not resolved: an endpoint serving ``@alias`` or ``/latest`` gets the model grant only."""


class MlflowRouteArgs(TypedDict):
    """Where the server is published through a Gateway API Gateway."""

    hostname: str
    gateway_name: str
    gateway_namespace: str
    listener: NotRequired[str]
    """The Gateway's HTTPS listener (``sectionName``, default ``https``): TLS terminates there."""


class MlflowServerArgs(TypedDict):
    """Inputs of the MLflow server. The cloud layer supplies the storage, database and identity fields."""

    namespace: str
    """Namespace the component creates for the server (default-deny)."""
    image: str
    """Tracking-server image, pinned by tag (``registry/name:tag``; see the module docstring for what it needs)."""
    image_digest: NotRequired[Input[str]]
    """``sha256:...`` digest of ``image``; appended as ``@sha256:...`` so the tag cannot move under a deployment.
    May be an output (a registry lookup at deploy time); a plain string is checked here."""
    database: DatabaseAccessArgs
    """The backend store: where PostgreSQL is and how pods sign in (the cloud layer's ``DatabaseAccess`` is accepted
    too)."""
    artifact_uri: Input[str]
    """The artifact store (``s3://``, ``gs://``, ``wasbs://``) the server proxies artifacts to."""
    artifact_pod_env: NotRequired[Input[Mapping[str, str]]]
    """Plain environment the server needs to reach the artifact store (region, endpoint)."""
    artifact_secret_env: NotRequired[Input[Mapping[str, str]]]
    """Secret environment for the artifact store when it has no workload identity (local access keys)."""
    service_account_annotations: NotRequired[Input[Mapping[str, str]]]
    """Workload-identity annotations of the server's ServiceAccount."""
    service_account_labels: NotRequired[Input[Mapping[str, str]]]
    database_admin_annotations: NotRequired[Input[Mapping[str, str]]]
    """Annotations of the bootstrap Job's ServiceAccount (the cloud layer's admin identity)."""
    database_admin_labels: NotRequired[Input[Mapping[str, str]]]
    database_egress: NotRequired[EgressTargetArgs]
    """Where the database listens (default: port 5432 anywhere)."""
    credential_egress: NotRequired[EgressTargetArgs]
    """Where database pods get their credential (STS, Entra, ...); absent when none is fetched."""
    storage_egress: NotRequired[EgressTargetArgs]
    """Where the artifact store listens (default: port 443 anywhere)."""
    identity_egress: NotRequired[list[EgressTargetArgs]]
    """Where pods with a workload identity get its tokens (the cloud layer's ``identity_egress``; default none)."""
    tolerated_taints: NotRequired[list[NodeTaintArgs]]
    """Taints of the CPU nodes that every pod of the server tolerates (the cloud layer's ``cpu_taints``)."""
    replicas: NotRequired[int]
    """Server pods (1-10, default 2; the PodDisruptionBudget keeps one up)."""
    workers: NotRequired[int]
    """Worker processes per pod (1-32, default 4)."""
    compute: NotRequired[ComputeArgs]
    """``cpu_request``, ``memory_request``, ``cpu_limit``, ``memory_limit`` (default 500m/2Gi, 2/3Gi)."""
    probes: NotRequired[ProbeArgs]
    """Probe timings: ``initial_delay_seconds``, ``period_seconds``, ``timeout_seconds``, ``failure_threshold``."""
    client_namespaces: NotRequired[list[str]]
    """Namespaces whose pods may call the server (model endpoints, notebooks, the gateway)."""
    monitoring_namespace: NotRequired[str]
    """Namespace of Prometheus, allowed to scrape ``/metrics`` (default ``monitoring``)."""
    route: NotRequired[MlflowRouteArgs]
    """Publish the server through a Gateway API HTTPRoute; absent: cluster-internal only."""
    allowed_hosts: NotRequired[list[str]]
    """Extra Host headers MLflow accepts (the Service's DNS names and the route's hostname always are)."""
    readers: NotRequired[list[MlflowReaderArgs]]
    """Users the component creates with READ on one registered model each; their generated passwords are in
    ``reader_passwords``."""
    monitoring: NotRequired[bool]
    """Create the ServiceMonitor that lets Prometheus scrape ``/metrics`` (default true). False on a cluster without
    the Prometheus Operator's CRDs (``monitoring.coreos.com``): nothing then scrapes the server, and Prometheus'
    namespace is not let in."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class MlflowServerSettings:
    namespace: str
    image: str
    replicas: int
    workers: int
    compute: ComputeSettings
    probes: ProbeSettings
    client_namespaces: tuple[str, ...]
    monitoring_namespace: str
    route: Mapping[str, str] | None
    allowed_hosts: tuple[str, ...]
    database_egress: EgressTarget
    credential_egress: EgressTarget | None
    storage_egress: EgressTarget
    identity_egress: tuple[EgressTarget, ...]
    tolerated_taints: tuple[NodeTaintArgs, ...]
    readers: tuple[tuple[str, str, tuple[str, ...]], ...]
    """``(username, model_name, model_versions)``."""
    monitoring: bool = True


def validate_readers(readers: Any, field: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if readers is None:
        return ()
    if not isinstance(readers, list):
        raise ArgumentError(f"{field}: {shown(readers)} is not allowed; use a list of {{username, model_name, "
                            f"model_versions}}")
    seen: set[str] = set()
    pairs = []
    for index, reader in enumerate(readers):
        where = f"{field}[{index}]"
        if not isinstance(reader, Mapping):
            raise ArgumentError(f"{where}: {shown(reader)} is not allowed; use a mapping with username and model_name")
        reject_unknown_keys(reader, {"username", "model_name", "model_versions"}, where)
        username = reader.get("username")
        if (not isinstance(username, str) or not re.fullmatch(USERNAME_PATTERN, username)
                or username == ADMIN_USERNAME or username in seen):
            raise ArgumentError(f"{where}.username: {shown(username)} is not allowed; use a DNS label other than "
                                f"{ADMIN_USERNAME} and the other readers' names")
        model_name = reader.get("model_name")
        if not isinstance(model_name, str) or not model_name.strip():
            raise ArgumentError(f"{where}.model_name: {shown(model_name)} is not allowed; use a registered model name")
        versions = reader.get("model_versions")
        if (not isinstance(versions, list)
                or not all(isinstance(v, str) and re.fullmatch(r"[1-9][0-9]*", v) for v in versions)):
            raise ArgumentError(f"{where}.model_versions: {shown(versions)} is not allowed; use a list of version "
                                f"numbers as strings")
        seen.add(username)
        pairs.append((username, model_name, tuple(dict.fromkeys(versions))))
    return tuple(pairs)


def validate_mlflow_server_args(args: Mapping[str, Any], field: str = "mlflow", *,
                                wiring: bool = True) -> MlflowServerSettings:
    """Check ``args`` and fill defaults; raises ``ArgumentError`` naming the field, the value and what is allowed.
    ``wiring=False`` checks a stack's settings before the cloud layer exists: no database or artifact store yet."""
    reject_unknown_keys(args, _ARGS, field)
    namespace = validate_namespace_name(args.get("namespace"), f"{field}.namespace")
    image = pinned_image(args.get("image"), f"{field}.image", tag_required=True, digest_field=f"{field}.image_digest")
    digest = args.get("image_digest")
    if isinstance(digest, str) or (digest is not None and not isinstance(digest, pulumi.Output)):
        if not isinstance(digest, str) or not re.fullmatch(DIGEST_PATTERN, digest):
            raise ArgumentError(f"{field}.image_digest: {shown(digest)} is not allowed; use sha256: and 64 hex digits")
        image = f"{image}@{digest}"
    database = args.get("database")
    if database is None and wiring:
        raise ArgumentError(f"{field}.database: missing; use a cloud layer's database (DatabaseAccess), or a mapping "
                            f"(DatabaseAccessArgs) describing an existing PostgreSQL and how pods sign in to it")
    if database is not None:
        database_access(database, f"{field}.database")
    artifact_uri = args.get("artifact_uri")
    if artifact_uri is None and wiring:
        raise ArgumentError(f"{field}.artifact_uri: missing; use the artifact store's uri (s3://, gs:// or wasbs://), "
                            f"such as ArtifactStore(...).uri")
    optional_text(args, "artifact_uri", field, _ARTIFACT_URI, "an artifact store URI (s3://, gs:// or wasbs://)")
    for key, meaning in (("artifact_pod_env", "environment variables"),
                         ("artifact_secret_env", "environment variables"),
                         ("service_account_annotations", "annotations"), ("service_account_labels", "labels"),
                         ("database_admin_annotations", "annotations"), ("database_admin_labels", "labels")):
        optional_mapping(args, key, field, meaning)
    clients = tuple(validate_namespace_name(n, f"{field}.client_namespaces[{i}]")
                    for i, n in enumerate(args.get("client_namespaces") or []))
    monitoring = validate_namespace_name(args.get("monitoring_namespace", "monitoring"),
                                         f"{field}.monitoring_namespace")
    route = validate_route_args(args.get("route"), f"{field}.route")
    hosts = args.get("allowed_hosts") or []
    if not isinstance(hosts, list) or "*" in hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ArgumentError(f"{field}.allowed_hosts: {shown(hosts)} is not allowed; use a list of host names (no '*')")
    return MlflowServerSettings(
        namespace=namespace,
        image=image,
        replicas=optional_int(args, "replicas", field, 2, 1, 10),
        workers=optional_int(args, "workers", field, 4, 1, 32),
        compute=validate_compute(args.get("compute"), f"{field}.compute", DEFAULT_COMPUTE),
        probes=validate_probes(args.get("probes"), f"{field}.probes", DEFAULT_PROBES),
        client_namespaces=clients,
        monitoring_namespace=monitoring,
        route=route,
        allowed_hosts=tuple(hosts),
        database_egress=egress_target(args.get("database_egress"), f"{field}.database_egress",
                                      EgressTarget(ports=(5432,))),
        credential_egress=None if args.get("credential_egress") is None else
        egress_target(args["credential_egress"], f"{field}.credential_egress", EgressTarget(ports=(443,))),
        storage_egress=egress_target(args.get("storage_egress"), f"{field}.storage_egress", EgressTarget(ports=(443,))),
        identity_egress=egress_targets(args.get("identity_egress"), f"{field}.identity_egress"),
        tolerated_taints=tuple(validate_node_taints(args.get("tolerated_taints"), f"{field}.tolerated_taints")),
        readers=validate_readers(args.get("readers"), f"{field}.readers"),
        monitoring=optional_bool(args, "monitoring", field, True),
    )


def users_spec(readers: tuple[tuple[str, str, tuple[str, ...]], ...]) -> list[dict[str, Any]]:
    """What the users Job creates, as its ``MLFLOW_USERS`` env: names, models, versions and which env var holds
    each password (the passwords themselves come from a Secret)."""
    return [{"username": username, "model_name": model, "model_versions": list(versions),
             "password_env": f"MLFLOW_READER_PASSWORD_{index}"}
            for index, (username, model, versions) in enumerate(readers)]


def server_command(settings: MlflowServerSettings, artifact_uri: str) -> tuple[list[str], list[str]]:
    """The container's command and args. The backend store URI is not among them: MLflow reads it from
    ``MLFLOW_BACKEND_STORE_URI`` (a Secret), so it never shows in the pod spec or a process list."""
    service = f"mlflow.{settings.namespace}"
    names = [f"{service}.svc.cluster.local", f"{service}.svc", service, "mlflow", "localhost"]
    if settings.route:
        names.append(settings.route["hostname"])
    names.extend(settings.allowed_hosts)
    # A Host header carries the port unless it is the scheme's default; pod IPs are what probes and scrapes use.
    hosts = [host for name in names for host in (name, f"{name}:*")] + ["10.*", "172.*", "192.168.*"]
    args = [
        "server",
        "--host", "0.0.0.0",
        "--port", str(MLFLOW_PORT),
        "--workers", str(settings.workers),
        "--serve-artifacts",
        "--artifacts-destination", artifact_uri,
        "--app-name", "basic-auth",
        "--expose-prometheus", METRICS_DIR,
        "--allowed-hosts", ",".join(dict.fromkeys(hosts)),
        # Keep idle client connections long enough for multi-part uploads; give in-flight uploads a minute to end.
        "--uvicorn-opts", "--timeout-keep-alive 120 --timeout-graceful-shutdown 60",
    ]
    return ["mlflow"], args


def auth_config(backend_store_uri: str) -> str:
    """MLflow's basic-auth configuration: users live in the same PostgreSQL database (their own tables), no
    permission for anyone until granted. The admin's name and password come from the environment. MLflow reads
    the file with configparser's interpolation, so a percent-encoded character of the URI (the '@' of a Cloud SQL IAM
    user name) is written as ``%%``."""
    return (
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = {backend_store_uri.replace('%', '%%')}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    )


class MlflowServer(pulumi.ComponentResource):
    """MLflow tracking server and model registry with authentication, metrics and a migration Job."""

    namespace: pulumi.Output[str]
    tracking_uri: pulumi.Output[str]
    """``http://mlflow.<namespace>.svc.cluster.local:5000``: where clients in the cluster reach the server."""
    admin_username: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    """Generated; a Pulumi secret."""
    reader_passwords: dict[str, pulumi.Output[str]]
    """Generated password (a Pulumi secret) of each reader, by username."""

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_mlflow_server_args(args, field=name)
        database = database_access(args["database"], f"{name}.database")
        validate_database_access(database, f"{name}.database")
        super().__init__("mlops:kubernetes:MlflowServer", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        ns = settings.namespace

        digest = args.get("image_digest")
        image: Input[str] = settings.image if not isinstance(digest, pulumi.Output) else \
            digest.apply(lambda resolved: f"{settings.image}@{resolved}")
        namespace = IsolatedNamespace(f"{name}-namespace", {"name": ns}, opts=child)
        inside = child.merge(pulumi.ResourceOptions(depends_on=[namespace]))

        admin_password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        csrf_key = random.RandomPassword(f"{name}-csrf-key", length=48, special=False, opts=child)
        store_uri = pulumi.Output.all(database.host, database.port, database.database, database.username).apply(
            lambda values: backend_uri(*values, database.tls))
        config_secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-config", namespace=ns),
            type="Opaque",
            string_data={
                "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password.result,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": csrf_key.result,
                "basic_auth.ini": store_uri.apply(auth_config),
            },
            opts=inside,
        )
        if settings.monitoring:
            k8s.core.v1.Secret(
                f"{name}-metrics-auth",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-metrics-auth", namespace=ns),
                type="kubernetes.io/basic-auth",
                string_data={"username": ADMIN_USERNAME, "password": admin_password.result},
                opts=inside,
            )
        reader_passwords = {
            username: pulumi.Output.secret(random.RandomPassword(
                f"{name}-reader-{username}-password", length=32, special=False, opts=child).result)
            for username, _, _ in settings.readers
        }
        readers_secret = k8s.core.v1.Secret(
            f"{name}-reader-passwords",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-reader-passwords", namespace=ns),
            type="Opaque",
            string_data=reader_passwords,
            opts=inside,
        ) if reader_passwords else None
        env_from: list[k8s.core.v1.EnvFromSourceArgs] = []
        if args.get("artifact_secret_env") is not None:
            k8s.core.v1.Secret(
                f"{name}-artifact-credentials",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-artifact-credentials", namespace=ns),
                type="Opaque",
                string_data=pulumi.Output.secret(args["artifact_secret_env"]),
                opts=inside,
            )
            env_from.append(k8s.core.v1.EnvFromSourceArgs(
                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name="mlflow-artifact-credentials")))

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mlflow", namespace=ns,
                annotations=args.get("service_account_annotations") or {},
                labels=args.get("service_account_labels") or {},
            ),
            automount_service_account_token=False,
            opts=inside,
        )

        def secret_env(variable: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(name=variable, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name="mlflow-config", key=variable)))

        plain_env = pulumi.Output.from_input(args.get("artifact_pod_env") or {}).apply(
            lambda env: [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())])
        login_secret(f"{name}-database-login", DATABASE_LOGIN_SECRET, ns, database.login, inside)
        login = pod_login(database.login, host=database.host, port=database.port, username=database.username,
                          image=image, uid=MLFLOW_UID, secret_name=DATABASE_LOGIN_SECRET)
        store_env = k8s.core.v1.EnvVarArgs(name="MLFLOW_BACKEND_STORE_URI", value=store_uri)
        env = plain_env.apply(lambda plain: [
            *plain,
            store_env,
            *login.env,
            secret_env("MLFLOW_AUTH_ADMIN_PASSWORD"),
            secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY"),
            k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_ADMIN_USERNAME", value=ADMIN_USERNAME),
            k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_CONFIG_PATH", value=AUTH_CONFIG_PATH),
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            # MLflow 3's job runner (huey consumers for GenAI scorer jobs, plus periodic tasks that must run on one
            # replica only) starts on every replica by default and multiplies the pod's memory; the platform runs
            # no MLflow server jobs, so it is off (see JOB_EXECUTION).
            *[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in JOB_EXECUTION.items()],
        ])
        volumes, mounts = writable_volumes({"tmp": "/tmp"}, size_limit="8Gi")
        tmp_volume, tmp_mount = volumes[0], mounts[0]
        volumes += login.volumes
        mounts += login.mounts
        volumes.append(k8s.core.v1.VolumeArgs(name="auth-config", secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name="mlflow-config", default_mode=0o440,
            items=[k8s.core.v1.KeyToPathArgs(key="basic_auth.ini", path="basic_auth.ini")])))
        mounts.append(k8s.core.v1.VolumeMountArgs(name="auth-config", mount_path="/etc/mlflow/auth",
                                                  read_only=True))
        pod_security = pod_security_context(MLFLOW_UID)
        resources = resource_requirements(settings.compute)
        bootstrap = DatabaseBootstrap(f"{name}-database-bootstrap", {
            "namespace": ns, "image": image, "uid": MLFLOW_UID, "database": database,
            "service_account_annotations": args.get("database_admin_annotations") or {},
            "service_account_labels": args.get("database_admin_labels") or {},
            "database_egress": settings.database_egress, "credential_egress": settings.credential_egress,
            "identity_egress": list(settings.identity_egress), "tolerated_taints": list(settings.tolerated_taints),
        }, opts=inside)
        tolerations = toleration_args(settings.tolerated_taints)

        migration = k8s.batch.v1.Job(
            f"{name}-db-upgrade",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels={
                "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "db-upgrade"}),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=3,
                active_deadline_seconds=900,
                ttl_seconds_after_finished=86400,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=with_identity_labels({
                        "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "db-upgrade"},
                        args.get("service_account_labels"))),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        service_account_name="mlflow",
                        automount_service_account_token=False,
                        security_context=pod_security,
                        volumes=[tmp_volume, *login.volumes],
                        init_containers=login.sidecars or None,
                        tolerations=tolerations,
                        containers=[k8s.core.v1.ContainerArgs(
                            name="db-upgrade",
                            image=image,
                            image_pull_policy="IfNotPresent",
                            # The URI comes from the environment, never the command line.
                            command=SCHEMA_UPGRADE_COMMAND,
                            env=[store_env, *login.env, k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
                            resources=resources,
                            security_context=container_security_context(MLFLOW_UID),
                            volume_mounts=[tmp_mount, *login.mounts],
                        )],
                    ),
                ),
            ),
            opts=inside.merge(pulumi.ResourceOptions(depends_on=[config_secret, service_account, bootstrap])),
        )

        command_and_args = pulumi.Output.from_input(args["artifact_uri"]).apply(
            lambda uri: server_command(settings, uri))
        probe = http_probe(HEALTH_PATH, "http", settings.probes)
        container = k8s.core.v1.ContainerArgs(
            name="mlflow",
            image=image,
            image_pull_policy="IfNotPresent",
            command=command_and_args.apply(lambda pair: pair[0]),
            args=command_and_args.apply(lambda pair: pair[1]),
            env=env,
            env_from=env_from or None,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=MLFLOW_PORT, protocol="TCP")],
            readiness_probe=probe,
            liveness_probe=http_probe(HEALTH_PATH, "http", ProbeSettings(
                settings.probes.initial_delay_seconds + 20, settings.probes.period_seconds,
                settings.probes.timeout_seconds, settings.probes.failure_threshold)),
            resources=resources,
            security_context=container_security_context(MLFLOW_UID),
            volume_mounts=mounts,
        )
        server = k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow", namespace=ns, labels=SERVER_LABELS),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=settings.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SERVER_LABELS),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=with_identity_labels(SERVER_LABELS,
                                                                          args.get("service_account_labels"))),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name="mlflow",
                        automount_service_account_token=False,
                        security_context=pod_security,
                        termination_grace_period_seconds=90,
                        volumes=volumes,
                        init_containers=login.sidecars or None,
                        containers=[container],
                        tolerations=tolerations,
                    ),
                ),
            ),
            opts=inside.merge(pulumi.ResourceOptions(depends_on=[migration, config_secret, service_account])),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow", namespace=ns, labels=SERVER_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=SERVER_LABELS,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=MLFLOW_PORT, target_port="http",
                                                   protocol="TCP")],
            ),
            opts=inside,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow", namespace=ns),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SERVER_LABELS)),
            opts=inside,
        )
        if readers_secret is not None:
            users_env = [
                k8s.core.v1.EnvVarArgs(name="MLFLOW_TRACKING_URI",
                                       value=f"http://mlflow.{ns}.svc.cluster.local:{MLFLOW_PORT}"),
                k8s.core.v1.EnvVarArgs(name="MLFLOW_TRACKING_USERNAME", value=ADMIN_USERNAME),
                k8s.core.v1.EnvVarArgs(name="MLFLOW_TRACKING_PASSWORD", value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name="mlflow-config",
                                                                     key="MLFLOW_AUTH_ADMIN_PASSWORD"))),
                k8s.core.v1.EnvVarArgs(name="MLFLOW_USERS", value=json.dumps(users_spec(settings.readers))),
                *[k8s.core.v1.EnvVarArgs(name=user["password_env"], value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name="mlflow-reader-passwords",
                                                                     key=user["username"])))
                  for user in users_spec(settings.readers)],
            ]
            k8s.batch.v1.Job(
                f"{name}-users",
                metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels=USERS_LABELS),
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=6,
                    active_deadline_seconds=600,
                    ttl_seconds_after_finished=86400,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=USERS_LABELS),
                        spec=k8s.core.v1.PodSpecArgs(
                            restart_policy="Never",
                            service_account_name="mlflow",
                            automount_service_account_token=False,
                            security_context=pod_security,
                            tolerations=tolerations,
                            containers=[k8s.core.v1.ContainerArgs(
                                name="users",
                                image=image,
                                image_pull_policy="IfNotPresent",
                                command=["python", "-c", USERS_SCRIPT],
                                env=users_env,
                                resources=resource_requirements(USERS_COMPUTE),
                                security_context=container_security_context(MLFLOW_UID),
                            )],
                        ),
                    ),
                ),
                opts=inside.merge(pulumi.ResourceOptions(depends_on=[
                    server, config_secret, readers_secret])),
            )
            allow_policy(
                f"{name}-allow-users", ns, USERS_LABELS, ingress=None,
                egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[namespace_peer(ns, SERVER_LABELS)], ports=tcp_ports([MLFLOW_PORT]))],
                opts=inside,
            )

        # Every pod that signs in to the database runs with MLflow's workload identity.
        signing_in = [settings.database_egress,
                      *([settings.credential_egress] if settings.credential_egress is not None else []),
                      *settings.identity_egress]
        scrapers = (settings.monitoring_namespace,) if settings.monitoring else ()
        callers = [namespace_peer(n) for n in (*settings.client_namespaces, *scrapers)]
        if readers_secret is not None:
            callers.append(namespace_peer(ns, USERS_LABELS))
        if settings.route:
            callers.append(namespace_peer(settings.route["gateway_namespace"]))
        allow_policy(
            f"{name}-allow-server", ns, SERVER_LABELS,
            # A rule without peers would admit every source: no callers means no ingress at all.
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=callers, ports=tcp_ports([MLFLOW_PORT]))]
            if callers else [],
            egress=egress_rules([*signing_in, settings.storage_egress]),
            opts=inside,
        )
        allow_policy(
            f"{name}-allow-db-upgrade", ns,
            {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "db-upgrade"},
            ingress=None, egress=egress_rules(signing_in), opts=inside,
        )
        if settings.monitoring:
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow", namespace=ns, labels=SERVER_LABELS),
                spec={
                    "selector": {"matchLabels": SERVER_LABELS},
                    "namespaceSelector": {"matchNames": [ns]},
                    "endpoints": [{
                        "port": "http",
                        "path": METRICS_PATH,
                        "interval": "30s",
                        "basicAuth": {
                            "username": {"name": "mlflow-metrics-auth", "key": "username"},
                            "password": {"name": "mlflow-metrics-auth", "key": "password"},
                        },
                    }],
                },
                opts=inside,
            )
        if settings.route:
            http_route(f"{name}-route", name="mlflow", namespace=ns, route=settings.route, rules=[{
                "backendRefs": [{"name": "mlflow", "port": MLFLOW_PORT}],
                "timeouts": {"request": f"{UPLOAD_TIMEOUT_SECONDS}s"},
            }], opts=inside)

        self.namespace = namespace.name
        self.tracking_uri = pulumi.Output.from_input(f"http://mlflow.{ns}.svc.cluster.local:{MLFLOW_PORT}")
        self.admin_username = pulumi.Output.from_input(ADMIN_USERNAME)
        self.admin_password = pulumi.Output.secret(admin_password.result)
        self.reader_passwords = reader_passwords
        self.register_outputs({"namespace": self.namespace, "tracking_uri": self.tracking_uri,
                               "admin_username": self.admin_username, "admin_password": self.admin_password})
