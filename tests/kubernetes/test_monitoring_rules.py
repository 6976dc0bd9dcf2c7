"""Model alerts and dashboards: every expression parses, and promtool shows each alert firing and staying quiet."""

from __future__ import annotations

import shutil
import subprocess

import promql_parser
import pytest
import yaml

from mlops_platform.kubernetes.model_monitoring import AlertThresholds, alert_rules, dashboard, dashboard_expressions

THRESHOLDS = AlertThresholds(max_error_ratio=0.05, p99_latency_seconds=0.5, max_drift_score=0.2, max_restarts=2)
RULES = alert_rules("models", "churn", "churn", THRESHOLDS)
ALERTS = [rule["alert"] for rule in RULES]
SERIES = 'namespace="models",model_name="churn",model_version="1"'


@pytest.mark.parametrize("expr", [r["expr"] for r in RULES] + dashboard_expressions(
    dashboard("models", "churn", "churn", THRESHOLDS, gpu=True)), ids=lambda e: e[:60])
def test_every_expression_parses(expr):
    promql_parser.parse(expr)


def test_every_endpoint_alert_exists_once():
    assert sorted(ALERTS) == sorted({"ModelHighErrorRatio", "ModelLatencyAboveSlo", "ModelNoTraffic",
                                     "ModelPodRestarting", "ModelDataDrift"})


# Per alert: (series that make it fire, series that keep it quiet, minutes to evaluate at, labels it adds).
CASES = {
    "ModelHighErrorRatio": (
        [(f'ml_predictions_total{{{SERIES},status="success"}}', "0+90x40"),
         (f'ml_predictions_total{{{SERIES},status="server_error"}}', "0+10x40")],
        [(f'ml_predictions_total{{{SERIES},status="success"}}', "0+99x40"),
         (f'ml_predictions_total{{{SERIES},status="server_error"}}', "0+1x40"),
         (f'ml_predictions_total{{{SERIES},status="client_error"}}', "0+50x40")],
        30, {}),
    "ModelLatencyAboveSlo": (
        [(f'ml_prediction_duration_seconds_bucket{{{SERIES},le="0.25"}}', "0+10x40"),
         (f'ml_prediction_duration_seconds_bucket{{{SERIES},le="1"}}', "0+100x40"),
         (f'ml_prediction_duration_seconds_bucket{{{SERIES},le="+Inf"}}', "0+100x40")],
        [(f'ml_prediction_duration_seconds_bucket{{{SERIES},le="0.25"}}', "0+100x40"),
         (f'ml_prediction_duration_seconds_bucket{{{SERIES},le="1"}}', "0+100x40"),
         (f'ml_prediction_duration_seconds_bucket{{{SERIES},le="+Inf"}}', "0+100x40")],
        30, {}),
    "ModelNoTraffic": (
        [(f'ml_predictions_total{{{SERIES},status="success"}}', "5x40")],
        [(f'ml_predictions_total{{{SERIES},status="success"}}', "0+5x40")],
        35, {}),
    "ModelPodRestarting": (
        [('kube_pod_container_status_restarts_total{namespace="models",pod="churn-blue-7d9f-abcde"}', "0+1x40")],
        [('kube_pod_container_status_restarts_total{namespace="models",pod="churn-blue-7d9f-abcde"}', "0x40"),
         ('kube_pod_container_status_restarts_total{namespace="models",pod="other-blue-7d9f-abcde"}', "0+1x40")],
        30, {"pod": "churn-blue-7d9f-abcde"}),
    "ModelDataDrift": (
        [(f'ml_data_drift_score{{{SERIES},feature="age"}}', "0.5x60")],
        [(f'ml_data_drift_score{{{SERIES},feature="age"}}', "0.1x60")],
        45, {"feature": "age"}),
}


def _test_case(alert: str, series, minutes: int, fires: bool, extra_labels: dict) -> dict:
    rule = next(r for r in RULES if r["alert"] == alert)
    expected = []
    if fires:
        expected = [{"exp_labels": {**rule["labels"], **extra_labels}, "exp_annotations": rule["annotations"]}]
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series],
        "alert_rule_test": [{"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": expected}],
    }


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_shows_each_alert_firing_and_staying_quiet(tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "model-endpoint", "rules": RULES}]}))
    tests = []
    for alert, (firing, quiet, minutes, extra_labels) in CASES.items():
        tests.append(_test_case(alert, firing, minutes, True, extra_labels))
        tests.append(_test_case(alert, quiet, minutes, False, extra_labels))
    assert {t["alert_rule_test"][0]["alertname"] for t in tests} == set(ALERTS)
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "evaluation_interval": "1m",
                                         "tests": tests}))
    result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_gpu_endpoints_dashboard_shows_its_pods_gpu_utilisation_and_memory():
    assert not [e for e in dashboard_expressions(dashboard("models", "churn", "churn", THRESHOLDS)) if "DCGM" in e]
    gpu = [e for e in dashboard_expressions(dashboard("models", "churn", "churn", THRESHOLDS, gpu=True)) if "DCGM" in e]
    assert [e.split("{")[0].split("(")[-1] for e in gpu] == ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"]
    assert all('namespace="models",pod=~"churn-(blue|green)-.*"' in e for e in gpu)


def test_dashboard_panels_query_this_endpoints_model_with_valid_promql():
    document = dashboard("models", "churn", "churn", THRESHOLDS, gpu=True)
    panels = document["panels"]
    assert panels and len({panel["id"] for panel in panels}) == len(panels)
    datasource = {variable["name"] for variable in document["templating"]["list"]}
    for panel in panels:
        assert panel["datasource"]["uid"].strip("${}") in datasource, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            promql_parser.parse(target["expr"])  # raises on invalid PromQL
            expr = target["expr"]
            this_endpoint = 'model_name="churn"' in expr or 'pod=~"churn-(blue|green)-.*"' in expr
            assert 'namespace="models"' in expr and this_endpoint, expr
