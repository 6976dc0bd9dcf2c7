"""The endpoint renders exactly the serving image's contract (serving_image/settings.py)."""

from __future__ import annotations

from serving_image import settings as contract

from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
from tests.kubernetes.rendering import container, endpoint_args, inputs, render


def _pod():
    plan = render(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(), opts=opts))
    return inputs(plan.one("kubernetes:apps/v1:Deployment", "churn-blue"))["spec"]["template"]["spec"]


def test_endpoint_runs_the_images_command_on_its_port():
    server = _pod()["containers"][0]
    assert tuple(server["command"]) == contract.COMMAND
    assert "args" not in server
    assert server["ports"] == [{"name": "http", "containerPort": contract.DEFAULT_PORT, "protocol": "TCP"}]


def test_every_serving_variable_the_endpoint_sets_is_one_the_image_reads_with_a_valid_value():
    server = _pod()["containers"][0]
    known = {var.name for var in contract.environment_variables()}
    rendered = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    serving = {name: value for name, value in rendered.items() if not name.startswith(("MLFLOW_", "AWS_"))}
    assert serving.keys() <= known
    assert {"MODEL_URI", "MODEL_NAME", "MODEL_VERSION", "PORT", "DRAIN_DELAY_SECONDS",
            "DRAIN_TIMEOUT_SECONDS"} <= serving.keys()
    parsed = contract.Settings.from_environ(serving)  # raises SettingsError on a value the server rejects
    assert parsed.port == contract.DEFAULT_PORT


def test_probes_and_metrics_use_the_images_paths():
    plan = render(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(), opts=opts))
    server = container(plan.one("kubernetes:apps/v1:Deployment", "churn-blue"))
    assert server["readinessProbe"]["httpGet"]["path"] == contract.READY_PATH
    assert server["livenessProbe"]["httpGet"]["path"] == contract.HEALTH_PATH
    monitor = inputs(plan.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"))
    assert monitor["spec"]["endpoints"][0]["path"] == contract.METRICS_PATH


def test_endpoint_runs_as_the_images_user_and_mounts_exactly_its_writable_paths():
    pod = _pod()
    server = pod["containers"][0]
    assert pod["securityContext"]["runAsUser"] == contract.RUN_AS_UID
    assert server["securityContext"]["runAsUser"] == contract.RUN_AS_UID
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert tuple(sorted(m["mountPath"] for m in server["volumeMounts"])) == tuple(sorted(contract.WRITABLE_PATHS))
    env = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    for directory in (env["RUNTIME_DIR"], env["MODEL_DOWNLOAD_DIR"]):
        assert any(directory.startswith(path + "/") for path in contract.WRITABLE_PATHS)


def test_grace_period_outlasts_the_pre_stop_pause_and_the_servers_drain():
    pod = _pod()
    server = pod["containers"][0]
    env = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    parsed = contract.Settings.from_environ(env)
    pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + parsed.drain_delay_seconds + parsed.drain_timeout_seconds
