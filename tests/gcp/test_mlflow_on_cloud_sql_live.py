"""The MLflow pods exactly as gcp-dev renders them, run for real: the bootstrap Job (as the admin's IAM user), the
migration Job and then the server itself (as MLflow's IAM user; its command, args and env, one worker instead of
the rendered ones), each reaching PostgreSQL through a stand-in for its Cloud SQL Auth Proxy sidecar and writing
artifacts to a local GCS API (gcp-storage-emulator); runs are logged and models registered through the server.

The stand-in forwards TCP from 127.0.0.1 to the test PostgreSQL, and the rendered proxy address (127.0.0.1 and the
port of its ``--port``) is swapped for the stand-in's. The real proxy authenticates: it fetches an IAM token for the
pod's Google service account and hands it to Cloud SQL, so the pod never holds a password. The stand-in cannot, so
the test PostgreSQL admits the two IAM roles from 127.0.0.1 without a password (a ``trust`` line in pg_hba.conf), as
Cloud SQL admits what its proxy authenticated; every other role still needs its password, and no container is ever
given one, so a pod spec that still needed one fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest

from tests.kubernetes.live_services import free_port, postgres_bin, running_postgres, wait_for_http
from tests.kubernetes.rendering import inputs
from tests.kubernetes.test_mlflow_server_live import _environment, _expand, _swap, _swap_args

pytestmark = [pytest.mark.slow, pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")]

VENV_BIN = Path(sys.executable).parent
DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "mlops-kubernetes-mlflow-server")
MIGRATION = ("kubernetes:batch/v1:Job", "mlops-kubernetes-mlflow-db-upgrade")
BOOTSTRAP = ("kubernetes:batch/v1:Job", "mlops-kubernetes-mlflow-database-bootstrap-job")


class ProxyStandIn:
    """Forwards TCP from 127.0.0.1:<port> to the test PostgreSQL, one thread pair per connection."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def _pod(plan, key):
    return inputs(plan.one(*key))["spec"]["template"]["spec"]


def _proxy_port(pod) -> int:
    [proxy] = [c for c in pod["initContainers"] if c["name"] == "cloud-sql-proxy"]
    assert "--auto-iam-authn" in proxy["args"]
    return int(next(arg for arg in proxy["args"] if arg.startswith("--port=")).split("=", 1)[1])


@pytest.fixture(scope="module")
def rendered(preview):
    plan = preview("gcp-dev")
    secrets = {r.inputs["metadata"]["name"]: inputs(r).get("stringData") or {}
               for r in plan.all("kubernetes:core/v1:Secret")}
    users = {u.inputs.get("databaseRoles") is not None: u.outputs["name"] for u in plan.all("gcp:sql/user:User")}
    return plan, secrets, users[False], users[True]


@pytest.fixture(scope="module")
def cloud_sql(rendered, tmp_path_factory):
    """PostgreSQL set up as Cloud SQL would be: the database owned by cloudsqlsuperuser, the two IAM users (the
    admin in cloudsqlsuperuser), and the stand-in proxy in front of it."""
    _, _, mlflow_user, admin_user = rendered
    with running_postgres(trusted_roles=(mlflow_user, admin_user)) as postgres:
        connection = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user,
                                      password=postgres.password, dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE cloudsqlsuperuser CREATEROLE CREATEDB")
            cursor.execute("CREATE DATABASE mlflow OWNER cloudsqlsuperuser")
            # Cloud SQL gives the users it puts in cloudsqlsuperuser CREATEROLE and CREATEDB themselves.
            cursor.execute(f'CREATE ROLE "{admin_user}" LOGIN CREATEROLE CREATEDB IN ROLE cloudsqlsuperuser')
            cursor.execute(f'CREATE ROLE "{mlflow_user}" LOGIN')
        connection.close()
        proxy = ProxyStandIn(postgres.port)
        try:
            yield postgres, proxy
        finally:
            proxy.close()


@pytest.fixture(scope="module")
def gcs(rendered):
    from gcp_storage_emulator.server import create_server

    plan = rendered[0]
    bucket = plan.one("gcp:storage/bucket:Bucket", "mlops-artifacts-bucket").outputs["name"]
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _run_job(plan, key, secrets, swaps, extra_env):
    pod = _pod(plan, key)
    [job] = pod["containers"]
    env = _environment(job, secrets, swaps)
    assert not {"PGPASSWORD", "PGPASSFILE"} & set(env)
    result = subprocess.run([str(VENV_BIN / job["command"][0]), *job["command"][1:]],
                            env={**os.environ, **env, **extra_env}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def mlflow_on_gcp(rendered, cloud_sql, gcs, tmp_path_factory):
    """The bootstrap Job, then the migration Job, with their rendered commands and env, through the stand-in."""
    from mlops_platform.kubernetes.mlflow_server import AUTH_CONFIG_PATH, METRICS_DIR

    plan, secrets, mlflow_user, admin_user = rendered
    postgres, proxy = cloud_sql
    workdir = tmp_path_factory.mktemp("mlflow-gcp")
    listen = _proxy_port(_pod(plan, DEPLOYMENT))
    assert {_proxy_port(_pod(plan, key)) for key in (MIGRATION, BOOTSTRAP)} == {listen}
    swaps = {f"127.0.0.1:{listen}": f"127.0.0.1:{proxy.port}", AUTH_CONFIG_PATH: str(workdir / "basic_auth.ini"),
             METRICS_DIR: str(workdir / "metrics"), "/tmp": str(workdir)}
    gcs_env = {"STORAGE_EMULATOR_HOST": gcs}
    _run_job(plan, BOOTSTRAP, secrets, swaps, {"PGPORT": str(proxy.port), **gcs_env})
    migration = _run_job(plan, MIGRATION, secrets, swaps, gcs_env)
    [server] = _pod(plan, DEPLOYMENT)["containers"]
    return {"env": _environment(server, secrets, swaps), "postgres": postgres, "proxy": proxy,
            "mlflow_user": mlflow_user, "admin_user": admin_user, "migration": migration, "server": server,
            "auth_config": _swap(secrets["mlflow-config"]["basic_auth.ini"], swaps), "workdir": workdir,
            "gcs": gcs, "bucket": plan.one("gcp:storage/bucket:Bucket", "mlops-artifacts-bucket").outputs["name"],
            "admin_password": secrets["mlflow-config"]["MLFLOW_AUTH_ADMIN_PASSWORD"]}


@pytest.fixture(scope="module")
def tracking_server(mlflow_on_gcp):
    """The server container as rendered, on 127.0.0.1 and a free port, one worker; its database through the
    stand-in, its artifacts in the emulator."""
    workdir, server, env = mlflow_on_gcp["workdir"], mlflow_on_gcp["server"], mlflow_on_gcp["env"]
    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"])  # the Secret's mount path, swapped for the workdir's
    assert config.parent == workdir
    config.write_text(mlflow_on_gcp["auth_config"])
    port = free_port()
    args = _swap_args(server["args"], port)
    args[args.index("--workers") + 1] = "1"
    log_path = workdir / "server.log"
    connections_before = mlflow_on_gcp["proxy"].connections
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(VENV_BIN / server["command"][0]), *_expand(args, env)],
                                   env={**os.environ, **env, "STORAGE_EMULATOR_HOST": mlflow_on_gcp["gcs"]},
                                   stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
        try:
            url = f"http://localhost:{port}"  # a name the rendered --allowed-hosts admits
            wait_for_http(f"{url}/health", 240, process, log=log_path)
            wait_for_http(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", 60, process,
                          auth=("admin", mlflow_on_gcp["admin_password"]), log=log_path)
            yield {"url": url, "log": log_path, "connections_before": connections_before}
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_server_reaches_its_database_only_through_the_proxy_port(mlflow_on_gcp):
    """The server's own env (as the kubelet would build it) names the proxy's address and no password."""
    env = mlflow_on_gcp["env"]
    assert not {"PGPASSWORD", "PGPASSFILE"} & set(env)
    assert f"@127.0.0.1:{mlflow_on_gcp['proxy'].port}/mlflow" in env["MLFLOW_BACKEND_STORE_URI"]
    assert mlflow_on_gcp["proxy"].connections > 0


def test_mlflow_tables_belong_to_its_own_iam_user_in_its_own_schema(mlflow_on_gcp):
    postgres = mlflow_on_gcp["postgres"]
    connection = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user,
                                  password=postgres.password, dbname="mlflow")
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename IN ('experiments', 'runs', "
                       "'registered_models')")
        assert cursor.fetchall() == [(mlflow_on_gcp["mlflow_user"],)]
        cursor.execute("SELECT DISTINCT schemaname, pg_get_userbyid(nspowner) FROM pg_tables JOIN pg_namespace "
                       "ON nspname = schemaname WHERE tablename IN ('experiments', 'runs', 'registered_models')")
        assert cursor.fetchall() == [("mlflow", mlflow_on_gcp["mlflow_user"])]  # the schema is the IAM user's own
        cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                       (mlflow_on_gcp["mlflow_user"],))
        assert cursor.fetchone() == (False, False, False)
    connection.close()


def test_the_iam_user_needs_no_password_but_other_roles_still_do(mlflow_on_gcp):
    """Guards the stand-in: only the IAM roles are admitted without a password."""
    postgres = mlflow_on_gcp["postgres"]
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=mlflow_on_gcp["proxy"].port, user=postgres.user, dbname="mlflow")


def test_the_servers_auth_config_reads_back_the_iam_user_s_uri(mlflow_on_gcp):
    """MLflow reads basic_auth.ini with configparser interpolation: the '@' of the IAM user, percent-encoded in the
    URI, must survive it."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read_string(mlflow_on_gcp["auth_config"])
    assert parser["mlflow"]["database_uri"] == mlflow_on_gcp["env"]["MLFLOW_BACKEND_STORE_URI"]


def test_the_rendered_server_logs_runs_and_registers_models_through_the_proxy(mlflow_on_gcp, tracking_server,
                                                                           monkeypatch):
    import mlflow
    from google.cloud import storage

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server["url"])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_on_gcp["admin_password"])
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("on-cloud-sql")
    client.create_registered_model("on-cloud-sql")
    for label in ("first", "second"):
        run = client.create_run(experiment, run_name=label)
        client.log_param(run.info.run_id, "label", label)
        client.log_metric(run.info.run_id, "score", 0.5)
        client.log_text(run.info.run_id, f"model of the {label} run", "model/notes.txt")
        client.set_terminated(run.info.run_id)
        version = client.create_model_version("on-cloud-sql", f"runs:/{run.info.run_id}/model",
                                              run_id=run.info.run_id)
        assert client.get_run(run.info.run_id).data.params == {"label": label}
    assert version.version == "2"
    assert client.get_registered_model("on-cloud-sql").latest_versions[0].version == "2"
    # The artifact went through the server to the bucket the stack names (the server proxies artifacts).
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", mlflow_on_gcp["gcs"])
    names = [blob.name for blob in storage.Client(project="test").list_blobs(mlflow_on_gcp["bucket"])]
    assert sum(name.endswith("model/notes.txt") for name in names) == 2
    assert mlflow_on_gcp["proxy"].connections > tracking_server["connections_before"]  # the server's own, too


def test_the_running_server_was_given_no_database_password(mlflow_on_gcp, tracking_server):
    """Nothing in the server's env signs in to PostgreSQL: no libpq password variable or pass file, and a URI with
    a user and no password (the IAM user, percent-encoded)."""
    from urllib.parse import unquote, urlsplit

    env = mlflow_on_gcp["env"]
    assert not {"PGPASSWORD", "PGPASSFILE"} & set(env)
    uri = urlsplit(env["MLFLOW_BACKEND_STORE_URI"])
    assert uri.password is None and unquote(uri.username) == mlflow_on_gcp["mlflow_user"]
    assert uri.hostname == "127.0.0.1" and uri.port == mlflow_on_gcp["proxy"].port
