"""Database credentials that rotate under a running MLflow, for real: the rendered bootstrap Job, migration Job and
server pod (command, args and env of every container, native sidecars first, gated by their startup probe), run
against a real PostgreSQL over TLS (``verify-full``, a throwaway CA standing in for the RDS bundle) and moto.

The pods are rendered from an AWS-like contract: MLflow signs in as ``mlflow_tracking`` with ``aws-rds-iam`` tokens,
the bootstrap as an RDS-like master user (no superuser) with its password read at run time from a Secrets Manager
secret (moto) by the refresher's real ``aws-secrets-manager`` source. Cluster-only values are swapped for local ones:
hosts and ports, file paths, the CA bundle, the AWS endpoint (moto stands in for IRSA's credentials), and the RDS
token source for ``rotating_token_source``, which makes every refresh change the user's password in PostgreSQL.
The server runs one worker (the rendered four would only cost CPU here) and opens a new database connection for
every request (NullPool), so each request signs in with whatever the pass file holds at that moment. The servers
are the session's (``conftest.py``); this module's database, roles, bucket and secret are its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import boto3
import pulumi
import pytest

from mlops_platform.cloud_layer import DatabaseAccess, DatabaseAdmin, DatabaseRole, DatabaseTls, RefreshedToken
from mlops_platform.kubernetes.database_login import LOGIN_DIR, REFRESHER_HEALTH_PORT
from mlops_platform.kubernetes.mlflow_server import AUTH_CONFIG_PATH, METRICS_DIR, MlflowServer
from tests.kubernetes.live_services import free_port, postgres_bin, unique_name, wait_for_http
from tests.kubernetes.rendering import inputs, render

pytestmark = [pytest.mark.slow, pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CLUSTER_DB_HOST = "mlops-dev-mlflow.c0abcdefghij.eu-west-1.rds.amazonaws.com"
CLUSTER_S3 = "https://s3.eu-west-1.amazonaws.com"
RDS_CA = "/opt/mlops/ca/rds-global-bundle.pem"
ROLE, ADMIN, ADMIN_PASSWORD = "mlflow_tracking", "rds_master", "master-password-from-secrets-manager"
DATABASE = "mlflow_rotation"
REFRESH_SECONDS = 2
RETRY_SECONDS = 0.5
"""The server's refresher: a new credential every 2 s, a failed fetch retried after 0.5 s, 1 s, 2 s, ..."""
SERVER_START_SECONDS = 240
"""Measured 30-40 s under ``nice`` on two shared cores (one worker); the bound only turns a hang into a failure."""
ROTATING_SOURCE = "tests.kubernetes.rotating_token_source:RotatingPassword"


def aws_like_access(secret_arn: str) -> DatabaseAccess:
    region = {"AWS_REGION": "eu-west-1"}
    out = pulumi.Output.from_input
    return DatabaseAccess(
        host=out(CLUSTER_DB_HOST), port=out(5432), database=out(DATABASE), username=out(ROLE),
        login=RefreshedToken(source="aws-rds-iam", settings=region),
        tls=DatabaseTls(mode="verify-full", ca_bundle="aws-rds"),
        role=DatabaseRole(create=("CREATE ROLE {role} LOGIN",), ensure=("GRANT rds_iam TO {role}",)),
        admin=DatabaseAdmin(username=ADMIN, login=RefreshedToken(
            source="aws-secrets-manager", settings={**region, "MLOPS_DB_SECRET_ID": secret_arn})))


def pod_spec(resource) -> dict:
    return inputs(resource)["spec"]["template"]["spec"]


class Pods:
    """Runs rendered pods' containers as local processes, the way the kubelet would order them."""

    def __init__(self, workdir: Path, swaps: dict[str, str], extra_env: dict[str, str], stack: ExitStack):
        self.workdir, self.swaps, self.extra_env, self.stack = workdir, swaps, extra_env, stack

    def swap(self, value: str) -> str:
        pattern = "|".join(re.escape(key) for key in sorted(self.swaps, key=len, reverse=True))
        return re.sub(pattern, lambda match: self.swaps[match.group(0)], value)

    def environment(self, container: dict, overrides: dict[str, str]) -> dict[str, str]:
        env = {entry["name"]: self.swap(entry["value"]) for entry in container.get("env", [])}
        assert all("value" in entry for entry in container.get("env", [])), "no Secret in this contract's pods"
        return {**os.environ, **self.extra_env, **env, **overrides}

    def start(self, name: str, container: dict, overrides: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"{name}.log"
        handle = open(log, "wb")
        self.stack.callback(handle.close)
        command = [str(VENV_BIN / container["command"][0]), *container["command"][1:], *container.get("args", [])]
        process = subprocess.Popen(command, env=self.environment(container, overrides), stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        self.stack.callback(stop, process)
        return process, log

    def run_job(self, name: str, container: dict, overrides: dict[str, str], timeout: float) -> None:
        """Run a Job's container to completion; a failure shows the end of its output."""
        command = [str(VENV_BIN / container["command"][0]), *container["command"][1:]]
        done = subprocess.run(command, cwd=ROOT, env=self.environment(container, overrides), capture_output=True,
                              text=True, timeout=timeout)
        (self.workdir / f"{name}-job.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, f"{name} Job exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}"

    @contextmanager
    def sidecars(self, pod: str, spec: dict, **overrides: str) -> Iterator[dict]:
        """Start the pod's native sidecars and wait for each one's startup probe; yield their health URLs."""
        started = {}
        with ExitStack() as own:
            for sidecar in spec.get("initContainers", []):
                assert sidecar["restartPolicy"] == "Always"
                port = free_port()
                probe = sidecar["startupProbe"]["httpGet"]
                assert probe["port"] == REFRESHER_HEALTH_PORT
                env = {"MLOPS_DB_HEALTH_PORT": str(port), "MLOPS_DB_HEALTH_ADDRESS": "127.0.0.1", **overrides}
                if {e["name"]: e["value"] for e in sidecar["env"]}["MLOPS_DB_TOKEN_SOURCE"] == "aws-rds-iam":
                    env["MLOPS_DB_TOKEN_SOURCE"] = ROTATING_SOURCE
                process, log = self.start(f"{pod}-{sidecar['name']}", sidecar, env)
                own.callback(stop, process)
                wait_for_http(f"http://127.0.0.1:{port}{probe['path']}", 60, process, log=log)
                started[sidecar["name"]] = {"url": f"http://127.0.0.1:{port}", "log": log, "process": process}
            yield started


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def status(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def platform(live_postgres, live_moto, tmp_path_factory):
    """The bootstrap Job, the migration Job and the server, in that order, each with its rendered sidecars, against
    the session's PostgreSQL and moto (a database, roles, bucket and secret of this module's own)."""
    import psycopg2

    postgres, moto_url = live_postgres, live_moto
    workdir = tmp_path_factory.mktemp("credentials-live")
    timings: dict[str, float] = {}
    admin_dsn = f"host=127.0.0.1 port={postgres.port} dbname=postgres user={postgres.user} " \
                f"password={postgres.password} sslmode=require"
    setup = psycopg2.connect(admin_dsn)
    setup.autocommit = True
    with setup.cursor() as sql:
        sql.execute("CREATE ROLE rds_iam")
        sql.execute(f"CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'")
        sql.execute(f"CREATE DATABASE {DATABASE} OWNER {ADMIN}")
    setup.close()

    aws = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    bucket = unique_name("rotation-artifacts")
    boto3.client("s3", region_name="eu-west-1", endpoint_url=moto_url, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    secret_arn = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=moto_url,
                              aws_access_key_id="testing", aws_secret_access_key="testing").create_secret(
        Name=unique_name("rds!db"), SecretString=json.dumps({"username": ADMIN, "password": ADMIN_PASSWORD}))["ARN"]

    plan = render(lambda opts: MlflowServer("mlflow", {
        "namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2", "database": aws_like_access(secret_arn),
        "artifact_uri": f"s3://{bucket}", "artifact_pod_env": {"AWS_REGION": "eu-west-1"}}, opts=opts))
    secrets = {r.inputs["metadata"]["name"]: inputs(r)["stringData"] for r in plan.all("kubernetes:core/v1:Secret")}
    port = free_port()
    swaps = {f"{CLUSTER_DB_HOST}:5432": f"localhost:{postgres.port}", CLUSTER_DB_HOST: "localhost",
             RDS_CA: str(postgres.ca_file), LOGIN_DIR: str(workdir), CLUSTER_S3: moto_url,
             AUTH_CONFIG_PATH: str(workdir / "basic_auth.ini"), METRICS_DIR: str(workdir / "metrics"),
             "/tmp": str(workdir)}
    issued, outage, hold = workdir / "issued", workdir / "outage", workdir / "hold"
    extra = {**aws, "ROTATING_ADMIN_DSN": admin_dsn, "ROTATING_ISSUED_FILE": str(issued),
             "ROTATING_OUTAGE_FILE": str(outage), "ROTATING_HOLD_FILE": str(hold),
             "ROTATING_LIFETIME_SECONDS": "120",
             "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool"}
    with ExitStack() as stack:
        pods = Pods(workdir, swaps, extra, stack)
        port_swap = {"MLOPS_DB_PORT": str(postgres.port), "PGPORT": str(postgres.port)}

        began = time.monotonic()
        bootstrap = pod_spec(plan.one("kubernetes:batch/v1:Job", "mlflow-database-bootstrap-job"))
        with pods.sidecars("bootstrap", bootstrap, **port_swap):
            pods.run_job("bootstrap", bootstrap["containers"][0], port_swap, timeout=120)
        timings["bootstrap job"] = time.monotonic() - began

        began = time.monotonic()
        migration = pod_spec(plan.one("kubernetes:batch/v1:Job", "mlflow-db-upgrade"))
        assert "args" not in migration["containers"][0]
        run_migration = lambda: pods.run_job("migration", migration["containers"][0], {}, timeout=300)  # noqa: E731
        with pods.sidecars("migration", migration, **port_swap):
            run_migration()
        timings["migration job"] = time.monotonic() - began

        (workdir / "basic_auth.ini").write_text(pods.swap(secrets["mlflow-config"]["basic_auth.ini"]))
        server_spec = pod_spec(plan.one("kubernetes:apps/v1:Deployment"))
        # No rotation while MLflow starts: its start-up connections are not retried (see rotating_token_source).
        hold.touch()
        began = time.monotonic()
        sidecars = stack.enter_context(pods.sidecars("server", server_spec, MLOPS_DB_REFRESH_SECONDS=str(
            REFRESH_SECONDS), MLOPS_DB_RETRY_SECONDS=str(RETRY_SECONDS), **port_swap))
        timings["server sidecar ready"] = time.monotonic() - began
        server = server_spec["containers"][0]
        args = list(server["args"])
        args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
        args[args.index("--workers") + 1] = "1"
        env_secrets = {e["name"]: secrets[e["valueFrom"]["secretKeyRef"]["name"]][e["valueFrom"]["secretKeyRef"]["key"]]
                       for e in server["env"] if "valueFrom" in e}
        plain = {**server, "env": [e for e in server["env"] if "value" in e], "args": args}
        began = time.monotonic()
        process, server_log = pods.start("server", plain, env_secrets)
        # "localhost", not 127.0.0.1: the rendered --allowed-hosts admits the former only (MLflow answers 403 to an
        # unknown Host header), as a pod admits its service names.
        url = f"http://localhost:{port}"
        wait_for_http(f"{url}/health", SERVER_START_SECONDS, process, log=server_log)
        timings["server /health"] = time.monotonic() - began
        # /health answers before the first authenticated request can; wait for one, bounded, before measuring.
        wait_for_http(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", 60, process,
                      auth=("admin", env_secrets["MLFLOW_AUTH_ADMIN_PASSWORD"]), log=server_log)
        timings["server authenticated answer"] = time.monotonic() - began
        held = status(sidecars["database-token"]["url"])["refreshes"]
        hold.unlink()
        # At most one held fetch was under way: two more refreshes include a real rotation, so the tests count only
        # real ones.
        wait_for(lambda: status(sidecars["database-token"]["url"])["refreshes"] >= held + 2, 10 * REFRESH_SECONDS,
                 "the first rotation after the server started")
        print("credentials live setup: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))

        def rerun_migration() -> None:
            with pods.sidecars("migration-again", migration, **port_swap):
                run_migration()

        yield {"url": url, "password": env_secrets["MLFLOW_AUTH_ADMIN_PASSWORD"],
               "refresher": sidecars["database-token"], "server_log": server_log, "issued": issued,
               "outage": outage, "workdir": workdir, "admin_dsn": admin_dsn, "plan": plan, "port": postgres.port,
               "rerun_migration": rerun_migration, "timings": timings}


@pytest.fixture
def client(platform, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", platform["url"])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", platform["password"])
    # The test source makes the old password invalid a few milliseconds before the pass file has the new one (an RDS
    # token stays valid until it expires, so this gap does not exist there): two quick retries cover that gap, and a
    # credential that does not work fails every retry.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    return mlflow.MlflowClient()


def log_and_register(client, label: str) -> str:
    """A run with a parameter and a metric, registered as a new version of one model: several new connections."""
    experiment = client.get_experiment_by_name("rotation") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("rotation")
    run = client.create_run(experiment_id, run_name=label)
    client.log_param(run.info.run_id, "label", label)
    client.log_metric(run.info.run_id, "score", 0.5)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(filter_string="name = 'rotating'"):
        client.create_registered_model("rotating")
    version = client.create_model_version("rotating", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    assert client.get_run(run.info.run_id).data.params == {"label": label}
    return version.version


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not happen within {seconds}s")


def test_runs_and_models_keep_working_across_three_password_rotations(platform, client):
    import psycopg2

    refresher = platform["refresher"]["url"]
    began = time.monotonic()
    versions = [log_and_register(client, "before")]
    for index in range(3):
        seen = status(refresher)["refreshes"]
        wait_for(lambda seen=seen: status(refresher)["refreshes"] > seen, 10 * REFRESH_SECONDS, f"rotation {index + 1}")
        versions.append(log_and_register(client, f"after-rotation-{index + 1}"))
    assert versions == [str(n) for n in range(int(versions[0]), int(versions[0]) + 4)]
    issued = platform["issued"].read_text().splitlines()
    assert len(issued) >= 5 and len(set(issued)) == len(issued)  # bootstrap excluded: migration + server's 4+
    # The password really changed under the server: the first credential no longer signs in.
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host="localhost", port=platform["port"], dbname=DATABASE, user=ROLE, password=issued[0],
                         sslmode="require").close()

    # The migration Job again, after the rotations (at the head revision it only signs in and checks): its own
    # refresher issues a new credential, which makes the server's stale until the server's next refresh.
    platform["rerun_migration"]()
    seen = status(refresher)["refreshes"]
    wait_for(lambda: status(refresher)["refreshes"] > seen, 10 * REFRESH_SECONDS, "the server's refresh after the Job")
    assert log_and_register(client, "after-migration-rerun") == str(int(versions[-1]) + 1)
    print(f"three rotations, five runs and versions, one migration re-run: {time.monotonic() - began:.1f}s")


def test_refreshes_are_logged_without_the_credential(platform, client):
    log_and_register(client, "logged")
    refresher_log = platform["refresher"]["log"].read_text()
    events = [json.loads(line) for line in refresher_log.splitlines() if line.startswith("{")]
    assert sum(e["event"] == "token_refreshed" for e in events) >= 1
    logs = refresher_log + platform["server_log"].read_text() + "".join(
        p.read_text() for p in platform["workdir"].glob("*.log"))
    for credential in platform["issued"].read_text().splitlines():
        assert credential not in logs
    assert ADMIN_PASSWORD not in logs


def test_an_outage_longer_than_a_refresh_keeps_the_last_good_token_then_recovers(platform, client):
    refresher = platform["refresher"]["url"]
    platform["outage"].touch()
    try:
        # A fetch that began before the outage may still land: count from the first failure on.
        failures_before = status(refresher)["failures"]

        def failed_once():
            now = status(refresher)
            return now if now["failures"] > failures_before else None

        first = wait_for(failed_once, 10 * REFRESH_SECONDS, "a failed refresh")
        outage_began, issued_before = time.monotonic(), platform["issued"].read_text()
        wait_for(lambda: status(refresher)["failures"] >= first["failures"] + 2, 10 * REFRESH_SECONDS,
                 "two more failed refreshes")
        time.sleep(max(0.0, 2 * REFRESH_SECONDS - (time.monotonic() - outage_began)))
        during = status(refresher)
        assert time.monotonic() - outage_began > REFRESH_SECONDS  # longer than one refresh without a new credential
        assert during["ready"] and during["refreshes"] == first["refreshes"], during
        assert platform["issued"].read_text() == issued_before  # no credential issued: the last good one serves
        log_and_register(client, "during-outage")
    finally:
        platform["outage"].unlink()
    wait_for(lambda: status(refresher)["refreshes"] > during["refreshes"], 30, "recovery")
    assert platform["issued"].read_text() != issued_before
    log_and_register(client, "after-outage")
    events = [json.loads(line)["event"] for line in platform["refresher"]["log"].read_text().splitlines()
              if line.startswith("{")]
    assert "token_refresh_failed" in events and events[-1] == "token_refreshed"
