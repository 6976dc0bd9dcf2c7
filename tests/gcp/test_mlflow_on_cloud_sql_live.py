"""The MLflow pods' database containers exactly as gcp-dev renders them, run for real: the bootstrap Job (as the
admin's IAM user) and the migration Job (as MLflow's IAM user), each reaching PostgreSQL through a stand-in for its
Cloud SQL Auth Proxy sidecar, and the server's env and auth config read back as MLflow reads them.

The stand-in listens where the rendered proxy would (127.0.0.1, the port of its ``--port``) and forwards to the
test PostgreSQL, which admits the two IAM roles from 127.0.0.1 without a password as Cloud SQL admits what its
proxy authenticated; the test never gives any container a password, so a pod spec that still needed one fails.
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

from tests.kubernetes.live_services import free_port, postgres_bin, running_postgres
from tests.kubernetes.rendering import inputs
from tests.kubernetes.test_mlflow_server_live import _environment, _swap

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
            "mlflow_user": mlflow_user, "admin_user": admin_user, "migration": migration,
            "auth_config": _swap(secrets["mlflow-config"]["basic_auth.ini"], swaps)}


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
