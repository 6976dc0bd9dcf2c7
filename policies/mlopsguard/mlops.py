"""MLOps rules, as stack policies across resources: the MLflow backend and server, blue-green model endpoints, the
monitoring stack, and monitoring of every endpoint.

The pack recognises the platform's objects by the labels the Kubernetes layer puts on them (mirrored here because
the pack depends on pulumi-policy alone): MLflow pods carry ``app.kubernetes.io/name: mlflow`` with component
``tracking-server``; model endpoint pods carry ``mlops.dev/endpoint: <name>`` and ``mlops.dev/colour: blue|green``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity, StackValidationArgs

from .databases import AURORA, AZURE_PG, CLOUD_SQL, RDS, rds_requires_tls
from .resources import UNKNOWN, get, items, of_types, string_map
from .rule import iso, nist, pci, stack_rule
from .workloads import WORKLOAD_KINDS, containers, kind_of, pod_template

ENDPOINT_LABEL = "mlops.dev/endpoint"
COLOUR_LABEL = "mlops.dev/colour"
COLOURS = ("blue", "green")
MLFLOW_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}
SERVICE = "kubernetes:core/v1:Service"
SERVICE_MONITOR_KINDS = frozenset({"ServiceMonitor", "PodMonitor"})
HELM = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})
MONITORING_CHART = "kube-prometheus-stack"


def _workloads(args: StackValidationArgs) -> list[tuple[Any, Any, Any]]:
    """Every workload of the stack as ``(resource, pod spec, pod labels)``."""
    found = []
    for resource in args.resources:
        if not resource.resource_type.startswith("kubernetes:"):
            continue
        kind = kind_of(resource.resource_type)
        if kind not in WORKLOAD_KINDS:
            continue
        pod, metadata = pod_template(kind, resource.props)
        labels = get(metadata, "labels")
        if pod is not None and pod is not UNKNOWN:
            found.append((resource, pod, string_map(labels) if labels is not UNKNOWN else {}))
    return found


def _mlflow_servers(args: StackValidationArgs) -> list[tuple[Any, Any, Any]]:
    return [w for w in _workloads(args) if all(w[2].get(k) == v for k, v in MLFLOW_LABELS.items())]


# --- MLflow database: private, TLS-only, backed up ----------------------------------------------------------------

_BACKUP_SCHEMA = PolicyConfigSchema(properties={
    "minimumBackupDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7,
                          "description": "Days of backups the MLflow database must keep."},
})


def _database_problems(args: StackValidationArgs, database: Any, minimum: int) -> list[str]:
    props, kind = database.props, database.resource_type
    problems = []
    if kind in (RDS, AURORA):
        if get(props, "publiclyAccessible") is True:
            problems.append("is publicly accessible")
        if rds_requires_tls(args, database) is False:
            problems.append("accepts connections without TLS")
        days = get(props, "backupRetentionPeriod")
        if days is not UNKNOWN and (not isinstance(days, (int, float)) or days < minimum):
            problems.append(f"keeps backups fewer than {minimum} days")
    elif kind == CLOUD_SQL:
        if get(props, "settings", "ipConfiguration", "ipv4Enabled") not in (False, UNKNOWN):
            problems.append("has a public IP")
        if get(props, "settings", "ipConfiguration", "sslMode") not in (
                "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", UNKNOWN):
            problems.append("accepts connections without TLS")
        if get(props, "settings", "backupConfiguration", "pointInTimeRecoveryEnabled") not in (True, UNKNOWN):
            problems.append("has no point-in-time recovery")
    elif kind == AZURE_PG:
        if get(props, "network", "publicNetworkAccess") not in ("Disabled", UNKNOWN):
            problems.append("accepts public network access")
        days = get(props, "backup", "backupRetentionDays")
        if isinstance(days, (int, float)) and days < minimum:
            problems.append(f"keeps backups fewer than {minimum} days")
    return problems


def _validate_mlflow_database(args: StackValidationArgs, report) -> None:
    if not _mlflow_servers(args):
        return
    minimum = args.get_config()["minimumBackupDays"]
    for database in of_types(args.resources, {RDS, AURORA, CLOUD_SQL, AZURE_PG}):
        problems = _database_problems(args, database, minimum)
        if problems:
            report(f"the MLflow backend database {', '.join(problems)}", database.urn)


MLFLOW_DATABASE = stack_rule(
    name="mlflow-database-secure",
    description="The database behind MLflow (experiments, runs, the model registry) is private, TLS-only and backed "
                "up with point-in-time recovery: losing or leaking it loses the lineage of every model.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), nist("SC-8"), nist("CP-9"), pci("1.4.4"), iso("A.8.13")],
    validate=_validate_mlflow_database,
    config_schema=_BACKUP_SCHEMA,
    applies_to=(RDS, AURORA, CLOUD_SQL, AZURE_PG),
)


# --- MLflow tracking server requires authentication --------------------------------------------------------------

def authenticates(pod: Any) -> bool | Any:
    """Whether an MLflow server pod authenticates requests: ``mlflow server --app-name basic-auth`` (or another
    auth app), or an auth proxy container in front of it."""
    for container in containers(pod):
        command, args = get(container, "command"), get(container, "args")
        if command is UNKNOWN or args is UNKNOWN or get(container, "image") is UNKNOWN:
            return UNKNOWN
        raw = items(command) + items(args)
        if UNKNOWN in raw:
            return UNKNOWN
        words = [str(w) for w in raw]
        if "--app-name" in words and words.index("--app-name") + 1 < len(words):
            return True
        if any(w.startswith("--app-name=") for w in words):
            return True
        image = get(container, "image")
        if isinstance(image, str) and "oauth2-proxy" in image:
            return True
    return False


def _validate_mlflow_auth(args: StackValidationArgs, report) -> None:
    for resource, pod, _labels in _mlflow_servers(args):
        if authenticates(pod) is False:
            report("the MLflow tracking server runs without authentication; start it with --app-name basic-auth "
                   "or put an auth proxy in front of it", resource.urn)


MLFLOW_AUTH = stack_rule(
    name="mlflow-tracking-auth",
    description="The MLflow tracking server authenticates every request, so nobody who reaches it can register, "
                "overwrite or promote a model anonymously.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("IA-2"), nist("AC-3"), pci("8.2.1"), iso("A.8.5")],
    validate=_validate_mlflow_auth,
    applies_to=("kubernetes:*",),
)


# --- blue-green endpoints: both colours alike, the live Service on one colour ------------------------------------

_COMPARED = ("securityContext", "resources", "readinessProbe", "livenessProbe", "startupProbe")


def _plain(value: Any) -> Any:
    """A property as plain data, for comparing two colours (unknowns compare as the marker)."""
    if isinstance(value, Mapping):
        return {k: _plain(get(value, k)) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in items(value)]
    return "UNKNOWN" if value is UNKNOWN else value


_GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
"""A colour may move to GPUs (a new model version behind a canary): GPU counts are not compared."""


def _without_gpus(resources: Any) -> Any:
    if not isinstance(resources, dict):
        return resources
    return {kind: {k: v for k, v in amounts.items() if k not in _GPU_RESOURCES} if isinstance(amounts, dict)
            else amounts for kind, amounts in resources.items()}


def _shape(pod: Any) -> dict[str, Any]:
    return {
        "pod.securityContext": _plain(get(pod, "securityContext")),
        **{f"{get(c, 'name')}.{key}": _without_gpus(_plain(get(c, key))) if key == "resources" else _plain(get(c, key))
           for c in containers(pod) for key in _COMPARED},
    }


def _validate_blue_green(args: StackValidationArgs, report) -> None:
    endpoints: dict[str, dict[str, tuple[Any, Any]]] = defaultdict(dict)
    for resource, pod, labels in _workloads(args):
        endpoint, colour = labels.get(ENDPOINT_LABEL), labels.get(COLOUR_LABEL)
        if isinstance(endpoint, str) and colour in COLOURS:
            namespace = get(resource.props, "metadata", "namespace")
            endpoints[f"{namespace}/{endpoint}"][colour] = (resource, pod)
    for key, colours in sorted(endpoints.items()):
        if len(colours) != 2:
            continue
        (blue, blue_pod), (_green, green_pod) = colours["blue"], colours["green"]
        blue_shape, green_shape = _shape(blue_pod), _shape(green_pod)
        if "UNKNOWN" in json.dumps([blue_shape, green_shape], default=str):
            continue
        differing = sorted(k for k in set(blue_shape) | set(green_shape) if blue_shape.get(k) != green_shape.get(k))
        if differing:
            report(f"endpoint {key.split('/')[-1]}: the colours differ in {', '.join(differing)}", blue.urn)
    for service in of_types(args.resources, {SERVICE}):
        selector = get(service.props, "spec", "selector")
        if not isinstance(selector, Mapping):
            continue
        if get(selector, ENDPOINT_LABEL) in (None, UNKNOWN):
            continue
        colour = get(selector, COLOUR_LABEL)
        if colour is not UNKNOWN and colour not in COLOURS:
            report(f"Service selects endpoint {get(selector, ENDPOINT_LABEL)} without exactly one colour "
                   f"({COLOUR_LABEL}); it would send traffic to both", service.urn)


BLUE_GREEN = stack_rule(
    name="endpoint-blue-green-consistent",
    description="The two colours of a blue-green model endpoint have the same security context, resources (GPU "
                "counts aside, so a colour may move to GPUs) and probes, and every Service of the endpoint selects exactly one colour, so a promotion changes the "
                "model and nothing else.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-3"), nist("CM-2"), iso("A.8.32")],
    validate=_validate_blue_green,
    applies_to=("kubernetes:*",),
)


# --- the monitoring stack -----------------------------------------------------------------------------------------

def _monitoring_problems(release: Any) -> list[str]:
    values = get(release.props, "values")
    if values is UNKNOWN:
        return []
    prometheus = get(values, "prometheus", "prometheusSpec")
    problems = []
    if get(prometheus, "retention") is None and get(prometheus, "retentionSize") is None:
        problems.append("sets no Prometheus retention")
    if get(prometheus, "storageSpec", "volumeClaimTemplate") is None:
        problems.append("keeps Prometheus data on ephemeral storage (no storageSpec.volumeClaimTemplate)")
    if get(values, "grafana", "enabled") is not False:
        if get(values, "grafana", "adminPassword") is UNKNOWN:
            pass  # decided at deployment
        elif get(values, "grafana", "adminPassword") is not None:
            problems.append("puts the Grafana admin password in plain Helm values")
        elif get(values, "grafana", "admin", "existingSecret") is None:
            problems.append("leaves Grafana on the chart's well-known default admin password (set "
                            "grafana.admin.existingSecret)")
    return problems


def _validate_monitoring(args: StackValidationArgs, report) -> None:
    if not _workloads(args):
        return  # nothing runs on Kubernetes in this stack, so there is nothing to monitor
    releases = [r for r in of_types(args.resources, HELM) if MONITORING_CHART in str(get(r.props, "chart"))]
    prometheuses = [r for r in args.resources if r.resource_type.startswith("kubernetes:monitoring.coreos.com/")
                    and kind_of(r.resource_type) == "Prometheus"]
    if not releases and not prometheuses:
        report("the stack runs workloads but has no monitoring stack (kube-prometheus-stack or a Prometheus), so "
               "incidents leave no metrics or alerts; components built with monitoring: false (a cluster without the "
               "Prometheus Operator) accept that: run a Prometheus (PrometheusStack), or set this rule to advisory in "
               "the policy config for this stack")
    for release in releases:
        for problem in _monitoring_problems(release):
            report(f"the monitoring stack {problem}", release.urn)
    for prometheus in prometheuses:
        spec = get(prometheus.props, "spec")
        if spec is UNKNOWN:
            continue
        if get(spec, "retention") is None:
            report("Prometheus sets no retention", prometheus.urn)
        if get(spec, "storage", "volumeClaimTemplate") is None:
            report("Prometheus keeps its data on ephemeral storage", prometheus.urn)


MONITORING = stack_rule(
    name="monitoring-stack-present",
    description="A stack that runs workloads also runs Prometheus with retention and persistent storage, and "
                "Grafana without a plain-text or default admin password, so incidents leave evidence. Components "
                "built with monitoring: false, for a cluster without the Prometheus Operator, trade that evidence "
                "away; a stack that accepts it sets this rule to advisory.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SI-4"), nist("AU-11"), iso("A.8.16")],
    validate=_validate_monitoring,
    applies_to=("kubernetes:*",),
)


# --- every endpoint monitored -------------------------------------------------------------------------------------

def _validate_endpoint_monitoring(args: StackValidationArgs, report) -> None:
    endpoints: dict[str, Any] = {}
    for resource, _pod, labels in _workloads(args):
        endpoint = labels.get(ENDPOINT_LABEL)
        if isinstance(endpoint, str):
            endpoints.setdefault(endpoint, resource)
    if not endpoints:
        return
    monitored, alerted = set(), set()
    for resource in args.resources:
        kind = kind_of(resource.resource_type) if resource.resource_type.startswith("kubernetes:") else None
        if kind in SERVICE_MONITOR_KINDS:
            selector = get(resource.props, "spec", "selector", "matchLabels")
            if selector is UNKNOWN or get(selector, ENDPOINT_LABEL) is UNKNOWN:
                monitored.update(endpoints)  # cannot tell which endpoint it scrapes: give every one the benefit
            elif isinstance(selector, Mapping):
                monitored.add(get(selector, ENDPOINT_LABEL))
        elif kind == "PrometheusRule":
            spec = get(resource.props, "spec")
            text = json.dumps(_plain(spec), default=str)
            if spec is UNKNOWN or "UNKNOWN" in text:
                alerted.update(endpoints)
            else:
                alerted.update(name for name in endpoints if name in text)
    for name, resource in sorted(endpoints.items()):
        missing = [what for what, seen in (("ServiceMonitor", monitored), ("PrometheusRule alerts", alerted))
                   if name not in seen]
        if missing:
            report(f"model endpoint {name} has no {' and no '.join(missing)}, so nothing notices when it fails or "
                   f"drifts; if it was built with monitoring: false (a cluster without the Prometheus Operator's "
                   f"CRDs), install the operator and turn monitoring on, or accept the risk for this stack by "
                   f"setting this rule to advisory in the policy config", resource.urn)


ENDPOINT_MONITORING = stack_rule(
    name="endpoint-monitoring",
    description="Every model endpoint is scraped by a ServiceMonitor and has alert rules, so a failing or drifting "
                "model pages someone instead of silently serving bad predictions. An endpoint built with "
                "monitoring: false (for a cluster without the Prometheus Operator's CRDs) has neither: the trade-off "
                "is an unwatched model, accepted per stack by setting this rule to advisory.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SI-4"), nist("IR-4"), iso("A.8.16")],
    validate=_validate_endpoint_monitoring,
    applies_to=("kubernetes:*",),
)

POLICIES = [MLFLOW_DATABASE, MLFLOW_AUTH, BLUE_GREEN, MONITORING, ENDPOINT_MONITORING]
