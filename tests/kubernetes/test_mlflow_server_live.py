"""The rendered MLflow container, run for real: the migration Job's command, then the server's exact command, args
and env (cluster-only values swapped for local ones) against PostgreSQL and a moto S3 endpoint, then the users Job's
script, to show what the metrics and endpoint users can and cannot do."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pulumi
import pytest

from mlops_platform.kubernetes.mlflow_server import AUTH_CONFIG_PATH, METRICS_DIR, MLFLOW_PORT, MlflowServer
from tests.kubernetes.live_services import free_port, postgres_bin, unique_name, wait_for_http
from tests.kubernetes.rendering import container, database_access, inputs, render

pytestmark = [pytest.mark.slow, pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")]

CLUSTER_DB_HOST = "db.cluster.internal"
CLUSTER_S3 = "http://minio.mlops-data.svc.cluster.local:9000"
CLUSTER_TRACKING_URI = f"http://mlflow.mlflow.svc.cluster.local:{MLFLOW_PORT}"
READER = "endpoint-churn"
READER_MODEL = "churn-classifier"
OTHER_MODEL = "fraud-detector"
VENV_BIN = Path(sys.executable).parent


def _rendered(postgres, bucket: str):
    """The server as the ``local`` target renders it (a static password from a Secret); the token kinds run for
    real in test_database_credentials_live.py."""
    plan = render(lambda opts: MlflowServer("mlflow", {
        "namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2",
        "database": database_access("static", host=CLUSTER_DB_HOST, database=postgres.database,
                                    username=postgres.user, password=postgres.password),
        "artifact_uri": f"s3://{bucket}",
        "artifact_pod_env": {"MLFLOW_S3_ENDPOINT_URL": CLUSTER_S3, "AWS_REGION": "us-east-1"},
        "artifact_secret_env": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        "readers": [{"username": READER, "model_name": READER_MODEL, "model_versions": ["1"]}],
    }, opts=opts))
    secrets = {r.inputs["metadata"]["name"]: inputs(r)["stringData"] for r in plan.all("kubernetes:core/v1:Secret")}
    return plan, secrets


def _environment(spec: dict, secrets: dict, swaps: dict[str, str]) -> dict[str, str]:
    """The container's env as the kubelet would build it (envFrom Secrets, then env with secretKeyRefs)."""
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env.update(secrets[source["secretRef"]["name"]])
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return {k: _swap(v, swaps) for k, v in env.items()}


def _swap(value: str, swaps: dict[str, str]) -> str:
    """Replace every cluster value with its local one in one pass (a replacement is never replaced again)."""
    if not swaps:
        return value
    pattern = "|".join(re.escape(key) for key in sorted(swaps, key=len, reverse=True))
    return re.sub(pattern, lambda match: swaps[match.group(0)], value)


def _expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion of command and args."""
    return [_swap(arg, {f"$({k})": v for k, v in env.items()}) for arg in args]


@pytest.fixture(scope="session")
def mlflow_server(live_postgres, live_moto, tmp_path_factory):
    """The migration Job, then the server, against a database and a bucket of their own in the session's servers."""
    import psycopg2

    workdir = tmp_path_factory.mktemp("mlflow-live")
    database = unique_name("mlflow_static").replace("-", "_")
    setup = psycopg2.connect(host="127.0.0.1", port=live_postgres.port, user=live_postgres.user,
                             password=live_postgres.password, dbname=live_postgres.database)
    setup.autocommit = True
    with setup.cursor() as sql:
        sql.execute(f"CREATE DATABASE {database}")
    setup.close()
    postgres = dataclasses.replace(live_postgres, database=database)
    s3_url, bucket = live_moto, unique_name("mlflow-artifacts")
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    plan, secrets = _rendered(postgres, bucket)
    port = free_port()
    swaps = {f"{CLUSTER_DB_HOST}:5432": f"127.0.0.1:{postgres.port}", CLUSTER_S3: s3_url,
             AUTH_CONFIG_PATH: str(workdir / "basic_auth.ini"), METRICS_DIR: str(workdir / "metrics"),
             "/tmp": str(workdir), CLUSTER_TRACKING_URI: f"http://localhost:{port}"}
    (workdir / "basic_auth.ini").write_text(_swap(secrets["mlflow-config"]["basic_auth.ini"], swaps))

    job = container(plan.one("kubernetes:batch/v1:Job", "mlflow-db-upgrade"))
    job_env = _environment(job, secrets, swaps)
    assert "args" not in job  # the URI is read from the environment, never from the command line
    done = subprocess.run([str(VENV_BIN / job["command"][0]), *job["command"][1:]], env={**os.environ, **job_env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    server = container(plan.one("kubernetes:apps/v1:Deployment"))
    env = _environment(server, secrets, swaps)
    args = _swap_args(server["args"], port)
    log_path = workdir / "server.log"
    log = open(log_path, "wb")
    process = subprocess.Popen([str(VENV_BIN / server["command"][0]), *_expand(args, env)],
                               env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                               cwd=workdir, start_new_session=True)
    try:
        # "localhost": the rendered --allowed-hosts admits it (MLflow answers 403 to an unknown Host header).
        wait_for_http(f"http://localhost:{port}/health", 240, process, log=log_path)
        monitor = inputs(plan.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"))
        yield {"url": f"http://localhost:{port}", "env": env, "s3_url": s3_url, "bucket": bucket, "server": server,
               "password": secrets["mlflow-config"]["MLFLOW_AUTH_ADMIN_PASSWORD"], "process": process,
               "scrape": monitor["spec"]["endpoints"][0], "scrape_secret": secrets["mlflow-metrics-auth"],
               "users_job": container(plan.one("kubernetes:batch/v1:Job", "mlflow-users")),
               "secrets": secrets, "swaps": swaps}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _swap_args(args: list[str], port: int) -> list[str]:
    """Bind to loopback on a free port instead of the pod's 0.0.0.0:5000; everything else as rendered."""
    swapped = list(args)
    swapped[swapped.index("--host") + 1] = "127.0.0.1"
    assert swapped[swapped.index("--port") + 1] == str(MLFLOW_PORT)
    swapped[swapped.index("--port") + 1] = str(port)
    return swapped


def _get(url: str, password: str | None = None, username: str = "admin") -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_server_refuses_requests_without_credentials(mlflow_server):
    status, _ = _get(f"{mlflow_server['url']}/api/2.0/mlflow/experiments/search?max_results=1")
    assert status == 401


def test_logged_and_registered_model_comes_back_from_the_bucket(mlflow_server, monkeypatch, tmp_path):
    import mlflow
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 2

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_server["password"])
    # Environment only (restored after the test): mlflow.set_tracking_uri/set_experiment are process-wide and
    # would redirect later tests' clients to this server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server["url"])
    experiment = mlflow.MlflowClient().create_experiment("live-test")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_text("hello artifacts", "notes/hello.txt")
        mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name="doubler",
                                 pip_requirements=["mlflow"])  # skip inference: a slow subprocess
    version = mlflow.MlflowClient().get_latest_versions("doubler")[0]
    assert version.version == "1"

    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt")
    assert text == "hello artifacts"
    import pandas as pd

    model = mlflow.pyfunc.load_model("models:/doubler/1")
    assert model.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [2, 4]

    s3 = boto3.client("s3", endpoint_url=mlflow_server["s3_url"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=mlflow_server["bucket"]).get("Contents", [])]
    assert any(key.endswith("notes/hello.txt") for key in keys)
    assert any(key.endswith("MLmodel") for key in keys)


def test_rendered_probe_and_metrics_paths_answer(mlflow_server):
    server = mlflow_server["server"]
    assert _get(f"{mlflow_server['url']}{server['readinessProbe']['httpGet']['path']}")[0] == 200
    scrape, credentials = mlflow_server["scrape"], mlflow_server["scrape_secret"]
    # Scrape as Prometheus would: the ServiceMonitor's path, with the credentials of the secret it references.
    assert scrape["basicAuth"]["password"]["name"] == "mlflow-metrics-auth"
    status, body = _get(f"{mlflow_server['url']}{scrape['path']}", credentials["password"], credentials["username"])
    assert status == 200 and b"mlflow_http_request" in body


def _run_users_job(mlflow_server) -> subprocess.CompletedProcess:
    """The users Job's container as the kubelet would run it: its command, with its env built from the Secrets."""
    job = mlflow_server["users_job"]
    env = _environment(job, mlflow_server["secrets"], mlflow_server["swaps"])
    assert job["command"][:2] == ["python", "-c"]
    return subprocess.run([str(VENV_BIN / job["command"][0]), *job["command"][1:]], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def _reader_password(mlflow_server) -> str:
    return mlflow_server["secrets"]["mlflow-reader-passwords"][READER]


def _api(mlflow_server, method: str, path: str, body: dict | None, username: str, password: str) -> int:
    import json

    request = urllib.request.Request(f"{mlflow_server['url']}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="session")
def least_privilege_users(mlflow_server, tmp_path_factory):
    """Two registered models and an unrelated experiment made by the admin (the endpoint's model with a loadable
    version 1, as a deployment would find it), then the users Job run twice: a re-run must be harmless."""
    import mlflow
    import mlflow.pyfunc

    class Tripler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 3

    admin = {"MLFLOW_TRACKING_URI": mlflow_server["url"], "MLFLOW_TRACKING_USERNAME": "admin",
             "MLFLOW_TRACKING_PASSWORD": mlflow_server["password"]}
    saved = {key: os.environ.get(key) for key in admin}
    os.environ.update(admin)
    try:
        client = mlflow.MlflowClient()
        experiment = client.create_experiment("least-privilege")
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pyfunc.log_model(name="model", python_model=Tripler(), registered_model_name=READER_MODEL,
                                     pip_requirements=["mlflow"])
        client.create_registered_model(OTHER_MODEL)
        unrelated = client.create_experiment("unrelated")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"runs": [_run_users_job(mlflow_server), _run_users_job(mlflow_server)], "unrelated": unrelated}


def test_users_job_succeeds_and_a_second_run_is_harmless(least_privilege_users):
    for run in least_privilege_users["runs"]:
        assert run.returncode == 0, run.stderr
        assert f"user {READER} ready" in run.stdout


def test_users_job_gets_no_password_on_its_command_line(mlflow_server):
    command = " ".join(mlflow_server["users_job"]["command"])
    for key, password in mlflow_server["secrets"]["mlflow-reader-passwords"].items():
        assert password not in command, key
    assert mlflow_server["password"] not in command


def test_metrics_answer_admins_only_so_prometheus_cannot_use_a_lesser_user(mlflow_server, least_privilege_users):
    # MLflow 3.17.2's basic-auth fails closed on routes without a permission rule, /metrics among them: this is why
    # the ServiceMonitor still scrapes as the admin. If this starts answering 200, a metrics user can replace it.
    status, _ = _get(f"{mlflow_server['url']}{mlflow_server['scrape']['path']}", _reader_password(mlflow_server),
                     READER)
    assert status == 403


def test_endpoint_user_loads_its_own_model(mlflow_server, least_privilege_users, monkeypatch):
    import mlflow.pyfunc
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server["url"])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", READER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", _reader_password(mlflow_server))
    model = mlflow.pyfunc.load_model(f"models:/{READER_MODEL}/1")
    assert model.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [3, 6]


@pytest.mark.parametrize("method, path, body", [
    ("GET", f"/api/2.0/mlflow/registered-models/get?name={OTHER_MODEL}", None),
    ("PATCH", "/api/2.0/mlflow/registered-models/update", {"name": READER_MODEL, "description": "changed"}),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": READER_MODEL}),
    ("POST", "/api/2.0/mlflow/model-versions/transition-stage",
     {"name": READER_MODEL, "version": "1", "stage": "Archived"}),
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id={unrelated}", None),
    ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "{unrelated}"}),
])
def test_endpoint_user_is_denied_other_models_experiments_and_writes(mlflow_server, least_privilege_users, method,
                                                                     path, body):
    unrelated = least_privilege_users["unrelated"]
    path = path.format(unrelated=unrelated)
    body = {k: v.format(unrelated=unrelated) for k, v in body.items()} if body else None
    status = _api(mlflow_server, method, path, body, READER, _reader_password(mlflow_server))
    assert status == 403


def test_endpoint_user_reads_its_own_model_over_rest(mlflow_server, least_privilege_users):
    status = _api(mlflow_server, "GET", f"/api/2.0/mlflow/registered-models/get?name={READER_MODEL}", None,
                  READER, _reader_password(mlflow_server))
    assert status == 200


def _tree_rss_mib(process) -> float:
    import psutil

    root = psutil.Process(process.pid)
    members = [root, *root.children(recursive=True)]
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _limit_mib(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_the_server_process_tree_stays_within_the_rendered_memory_limit(mlflow_server, least_privilege_users):
    """The rendered command and env, as the pod runs them: resident memory of the whole process tree (uvicorn's
    workers and anything MLflow starts beside them), idle and after a burst of requests, against the limit."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    limit = _limit_mib(mlflow_server["server"]["resources"]["limits"]["memory"])
    env = {e["name"]: e.get("value") for e in mlflow_server["server"]["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    idle = _tree_rss_mib(mlflow_server["process"])
    url = f"{mlflow_server['url']}/api/2.0/mlflow/experiments/search?max_results=50"

    token = base64.b64encode(f"admin:{mlflow_server['password']}".encode()).decode()

    def call(_):
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(200)))
    assert set(statuses) == {200}
    time.sleep(1)
    busy = _tree_rss_mib(mlflow_server["process"])
    print(f"MLflow server process tree RSS: idle {idle:.0f} MiB, after 200 requests {busy:.0f} MiB, "
          f"limit {limit:.0f} MiB")
    # headroom for the page cache of uploads and Python's arenas under real traffic
    assert idle < 0.6 * limit and busy < 0.75 * limit
