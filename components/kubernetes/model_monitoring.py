"""Alerts and a Grafana dashboard for one model endpoint, from the serving image's metrics.

Metrics (the serving image's): ``ml_predictions_total{model_name,model_version,status}`` with status
``success``, ``client_error`` or ``server_error``; the ``ml_prediction_duration_seconds`` histogram; and the gauge
``ml_data_drift_score{model_name,model_version,feature}`` (PSI). Pod restarts come from kube-state-metrics, which
the Prometheus stack runs.

Every expression is built here, by pure functions, so the tests parse them (promql-parser) and run the rules
through ``promtool test rules``. The alerts aggregate over both colours and every version, so a promotion neither
silences nor fires them; client errors (4xx: bad input) do not count as the model failing.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..tagging import tagged_options

DASHBOARD_LABEL = "grafana_dashboard"
"""The label the Grafana sidecar looks for (kube-prometheus-stack's default ``sidecar.dashboards.label``)."""


@dataclass(frozen=True)
class AlertThresholds:
    """What counts as unhealthy for one model."""

    max_error_ratio: float
    """Share of scoring requests that may fail with a server error (5xx), e.g. 0.01."""
    p99_latency_seconds: float
    """The latency SLO: the 99th percentile must stay below it."""
    max_drift_score: float
    """Highest tolerated PSI of any feature (0.2 is the usual "significant shift")."""
    max_restarts: int
    """Container restarts tolerated within 15 minutes."""


class ModelMonitoringArgs(TypedDict):
    """Inputs of one endpoint's alerts and dashboard."""

    namespace: str
    """Namespace of the endpoint; the rule and the dashboard live there."""
    endpoint: str
    """Endpoint name: the pod-name prefix of both colours."""
    model_name: str
    """The ``model_name`` label the serving image puts on its metrics."""
    thresholds: AlertThresholds
    gpu: NotRequired[bool]
    """A colour runs on GPUs: the dashboard adds GPU utilisation and memory (DCGM exporter metrics)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


_SERVER_ERROR = ',status="server_error"'


def _selector(model_name: str, namespace: str, extra: str = "") -> str:
    return f'{{namespace="{namespace}",model_name="{model_name}"{extra}}}'


def alert_rules(namespace: str, endpoint: str, model_name: str, thresholds: AlertThresholds) -> list[dict[str, Any]]:
    """The alerting rules of one endpoint, as PrometheusRule ``spec.groups[].rules`` entries."""
    all_requests = f"ml_predictions_total{_selector(model_name, namespace)}"
    server_errors = f"ml_predictions_total{_selector(model_name, namespace, _SERVER_ERROR)}"
    buckets = f"ml_prediction_duration_seconds_bucket{_selector(model_name, namespace)}"
    drift = f"ml_data_drift_score{_selector(model_name, namespace)}"
    pods = f'kube_pod_container_status_restarts_total{{namespace="{namespace}",pod=~"{endpoint}-(blue|green)-.*"}}'
    labels = {"namespace": namespace, "endpoint": endpoint, "model_name": model_name}

    def rule(alert: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
        return {
            "alert": alert,
            "expr": expr,
            "for": duration,
            "labels": {**labels, "severity": severity},
            "annotations": {"summary": summary, "runbook": f"Model endpoint {namespace}/{endpoint}: {summary}"},
        }

    return [
        rule("ModelHighErrorRatio",
             f"sum(rate({server_errors}[5m])) / sum(rate({all_requests}[5m])) > {thresholds.max_error_ratio}",
             "5m", "critical",
             f"more than {thresholds.max_error_ratio:.2%} of {model_name} predictions fail with a server error"),
        rule("ModelLatencyAboveSlo",
             f"histogram_quantile(0.99, sum by (le) (rate({buckets}[5m]))) > {thresholds.p99_latency_seconds}",
             "10m", "warning",
             f"p99 latency of {model_name} is above its SLO of {thresholds.p99_latency_seconds}s"),
        rule("ModelNoTraffic",
             f"(sum(rate({all_requests}[15m])) or vector(0)) == 0",
             "15m", "warning", f"{model_name} has answered no prediction request for 15 minutes"),
        rule("ModelPodRestarting",
             f"sum by (pod) (increase({pods}[15m])) > {thresholds.max_restarts}",
             "0m", "warning",
             f"a pod of {endpoint} restarted more than {thresholds.max_restarts} times in 15 minutes"),
        rule("ModelDataDrift",
             f"max by (feature) ({drift}) > {thresholds.max_drift_score}",
             "30m", "warning",
             f"an input feature of {model_name} drifted beyond PSI {thresholds.max_drift_score}"),
    ]


def dashboard(namespace: str, endpoint: str, model_name: str, thresholds: AlertThresholds,
              gpu: bool = False) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) of one endpoint: traffic by colour/version, errors, latency, drift, and with
    ``gpu`` the GPU utilisation and memory of its pods (the DCGM exporter labels each GPU with the pod using it)."""
    selector = _selector(model_name, namespace)
    targets = [
        ("Predictions per second by version", f"sum by (model_version, status) (rate(ml_predictions_total{selector}[5m]))",
         "reqps"),
        ("Server error ratio", f"sum(rate(ml_predictions_total{_selector(model_name, namespace, _SERVER_ERROR)}"
         f"[5m])) / sum(rate(ml_predictions_total{selector}[5m]))", "percentunit"),
        ("p99 latency (SLO {0}s)".format(thresholds.p99_latency_seconds),
         f"histogram_quantile(0.99, sum by (le, model_version) (rate(ml_prediction_duration_seconds_bucket{selector}[5m])))",
         "s"),
        ("Data drift (PSI) by feature", f"max by (feature) (ml_data_drift_score{selector})", "none"),
        ("Container restarts (15m)", f'sum by (pod) (increase(kube_pod_container_status_restarts_total{{namespace="{namespace}",'
         f'pod=~"{endpoint}-(blue|green)-.*"}}[15m]))', "none"),
    ]
    gpu_pods = f'{{namespace="{namespace}",pod=~"{endpoint}-(blue|green)-.*"}}'
    if gpu:
        targets += [
            ("GPU utilisation by pod", f"avg by (pod) (DCGM_FI_DEV_GPU_UTIL{gpu_pods})", "percent"),
            ("GPU memory used by pod", f"sum by (pod) (DCGM_FI_DEV_FB_USED{gpu_pods})", "decmbytes"),
        ]
    panels = [
        {
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr}],
        }
        for index, (title, expr, unit) in enumerate(targets)
    ]
    return {
        "uid": f"mlops-{namespace}-{endpoint}"[:40],
        "title": f"Model endpoint {namespace}/{endpoint}",
        "tags": ["mlops", "model-endpoint"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


def dashboard_expressions(document: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


class ModelMonitoring(pulumi.ComponentResource):
    """A PrometheusRule and a dashboard ConfigMap for one model endpoint."""

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:ModelMonitoring", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        namespace, endpoint, model = args["namespace"], args["endpoint"], args["model_name"]
        thresholds = args["thresholds"]
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{endpoint}-alerts", namespace=namespace),
            spec={"groups": [{"name": f"model-endpoint-{namespace}-{endpoint}",
                              "rules": alert_rules(namespace, endpoint, model, thresholds)}]},
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{endpoint}-dashboard", namespace=namespace, labels={DASHBOARD_LABEL: "1"}),
            data={f"{endpoint}.json": json.dumps(dashboard(namespace, endpoint, model, thresholds,
                                                           gpu=args.get("gpu", False)), sort_keys=True)},
            opts=child,
        )
        self.register_outputs({})
