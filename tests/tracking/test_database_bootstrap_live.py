"""The bootstrap Job's plan, as rendered, run against a real PostgreSQL as the admin, twice: the end state is the
same and grants the workload's role no more than its own database and schema, read from PostgreSQL's catalogues.

Two admins: one like the RDS master user (no superuser; CREATEROLE; owner of the databases RDS creates; ``rds_iam``
exists), and a superuser like the ``local`` target's. Against Debian's PostgreSQL and, where the ``pgserver`` package
is installed, its PostgreSQL 16 too: 16 changed what CREATEROLE may do (granting and altering a role takes ADMIN
OPTION on it), and every cloud layer runs 16 or 17."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

import os
from pathlib import Path

from mlops_platform.kubernetes.mlflow_server import MlflowServer
from serving_image.tracking.database_bootstrap import BootstrapError, bootstrap, read_plan
from tests.kubernetes.live_services import postgres_bin, running_postgres
from tests.kubernetes.rendering import container, database_access, render

pytestmark = [pytest.mark.slow, pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")]

ROLE = "mlflow_tracking"
ADMIN_PASSWORD = "rds-master-password"


def rendered_plan(kind: str) -> dict[str, str]:
    """The bootstrap container's env as rendered for a cloud layer of ``kind``."""
    plan = render(lambda opts: MlflowServer("mlflow", {
        "namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2", "artifact_uri": "s3://bucket",
        "database": database_access(kind, database="mlflow", username=ROLE, password="workload-password")},
        opts=opts))
    env = container(plan.one("kubernetes:batch/v1:Job", "mlflow-database-bootstrap-job"))["env"]
    values = {e["name"]: e.get("value") for e in env}
    if kind == "static":  # the secret parameter, as the kubelet would put it from the role Secret
        values["MLOPS_DB_PARAM_PASSWORD"] = "workload-password"
    return values


def postgres_majors() -> dict[str, str | None]:
    """Binaries to run against: Debian's (``None``: the default) and pgserver's PostgreSQL 16 when installed."""
    import importlib.util

    majors: dict[str, str | None] = {"debian": None}
    found = importlib.util.find_spec("pgserver")  # a wheel holding PostgreSQL's binaries; not imported, only read
    if found is None or found.origin is None:
        return majors
    binaries = Path(found.origin).parent / "pginstall" / "bin"
    if (binaries / "initdb").exists():
        majors["pgserver"] = str(binaries)
    return majors


@pytest.fixture(scope="module", params=sorted(postgres_majors().items()), ids=lambda item: item[0])
def server(request):
    _, binaries = request.param
    saved = os.environ.get("MLOPS_POSTGRES_BIN")
    if binaries:
        os.environ["MLOPS_POSTGRES_BIN"] = binaries
    try:
        with running_postgres() as postgres:
            yield postgres
    finally:
        if saved is None:
            os.environ.pop("MLOPS_POSTGRES_BIN", None)
        else:
            os.environ["MLOPS_POSTGRES_BIN"] = saved


def server_version(postgres) -> int:
    with superuser(postgres) as sql:
        sql.execute("SHOW server_version_num")
        return int(sql.fetchone()[0])


def connect(postgres, database: str, user: str | None = None, password: str | None = None):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=postgres.port, dbname=database, user=user or postgres.user,
                            password=password or postgres.password)


@contextmanager
def superuser(postgres, database: str = "postgres"):
    connection = connect(postgres, database)
    connection.autocommit = True
    try:
        yield connection.cursor()
    finally:
        connection.close()


@pytest.fixture
def cluster(server, request):
    """A fresh ``mlflow`` database with an RDS-like admin, the ``rds_iam`` role and a second database the admin owns;
    dropped afterwards."""
    modern = server_version(server) >= 160000
    with superuser(server) as sql:
        sql.execute("CREATE ROLE rds_iam")
        sql.execute(f"CREATE ROLE rds_master LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'")
        if modern:  # as RDS lets its master grant rds_iam on 16+: ADMIN OPTION, neither its privileges nor SET ROLE
            sql.execute("GRANT rds_iam TO rds_master WITH ADMIN TRUE, INHERIT FALSE, SET FALSE")
        sql.execute("CREATE DATABASE mlflow OWNER rds_master")
        sql.execute("CREATE DATABASE reporting OWNER rds_master")
    try:
        yield server
    finally:
        with superuser(server) as sql:
            sql.execute("DROP DATABASE mlflow")
            sql.execute("DROP DATABASE reporting")
            sql.execute(f"DROP ROLE IF EXISTS {ROLE}")
            sql.execute("DROP ROLE rds_master")
            sql.execute("DROP ROLE rds_iam")
            sql.execute("GRANT CONNECT, TEMPORARY ON DATABASE postgres TO PUBLIC")
            sql.execute("GRANT CONNECT, TEMPORARY ON DATABASE template1 TO PUBLIC")


def run_bootstrap(postgres, env: dict[str, str], admin: str, password: str) -> dict:
    connection = connect(postgres, "mlflow", admin, password)
    try:
        return bootstrap(connection, read_plan(env), log=lambda line: None)
    finally:
        connection.close()


def catalogue_state(postgres) -> dict:
    """Everything the role may do, from the catalogues (as the superuser, who sees all)."""
    with superuser(postgres, "mlflow") as sql:
        sql.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin "
                    "FROM pg_roles WHERE rolname = %s", (ROLE,))
        attributes = dict(zip(("superuser", "createrole", "createdb", "replication", "bypassrls", "login"),
                              sql.fetchone()))
        sql.execute("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                    "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s ORDER BY 1", (ROLE,))
        member_of = [row[0] for row in sql.fetchall()]
        # Who holds the role's privileges or may become it (on 16+ its creator holds ADMIN OPTION alone: neither).
        sql.execute("SHOW server_version_num")
        become = "SET" if int(sql.fetchone()[0]) >= 160000 else "MEMBER"
        sql.execute("SELECT u.rolname FROM pg_roles u WHERE u.rolname <> %s AND NOT u.rolsuper "
                    "AND (pg_has_role(u.oid, %s, 'USAGE') OR pg_has_role(u.oid, %s, %s)) ORDER BY 1",
                    (ROLE, ROLE, ROLE, become))
        members = [row[0] for row in sql.fetchall()]
        sql.execute("SELECT datname, has_database_privilege(%s, oid, 'CONNECT'), "
                    "has_database_privilege(%s, oid, 'CREATE'), has_database_privilege(%s, oid, 'TEMPORARY'), "
                    "datacl::text FROM pg_database WHERE datallowconn ORDER BY datname", (ROLE, ROLE, ROLE))
        databases = {row[0]: {"connect": row[1], "create": row[2], "temporary": row[3], "acl": row[4]}
                     for row in sql.fetchall()}
        sql.execute("SELECT nspname, pg_get_userbyid(nspowner), has_schema_privilege(%s, oid, 'USAGE'), "
                    "has_schema_privilege(%s, oid, 'CREATE'), nspacl::text FROM pg_namespace "
                    "WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1", (ROLE, ROLE))
        schemas = {row[0]: {"owner": row[1], "usage": row[2], "create": row[3], "acl": row[4]}
                   for row in sql.fetchall()}
        sql.execute("SELECT d.datname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                    "LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE r.rolname = %s", (ROLE,))
        settings = sql.fetchall()
    return {"attributes": attributes, "member_of": member_of, "members": members, "databases": databases,
            "schemas": schemas, "settings": settings}


def test_the_rendered_plan_applied_twice_as_the_rds_master_ends_in_the_same_least_privilege_state(cluster):
    env = rendered_plan("token")
    first = run_bootstrap(cluster, env, "rds_master", ADMIN_PASSWORD)
    after_first = catalogue_state(cluster)
    second = run_bootstrap(cluster, env, "rds_master", ADMIN_PASSWORD)
    assert (first["created"], second["created"]) == (True, False)
    assert catalogue_state(cluster) == after_first

    state = after_first
    assert state["attributes"] == {"superuser": False, "createrole": False, "createdb": False,
                                   "replication": False, "bypassrls": False, "login": True}
    assert state["member_of"] == ["rds_iam"]     # token authentication, nothing else
    assert state["members"] == []                # the admin does not inherit it (nor rds_iam through it)
    own = state["databases"].pop("mlflow")
    assert (own["connect"], own["create"], own["temporary"]) == (True, False, False)
    assert "=c" not in own["acl"].replace(f"{ROLE}=c", "")  # PUBLIC ("=...") has nothing on it
    # The other databases the admin owns are closed to it; template1 belongs to the bootstrap superuser (as
    # RDS's rdsadmin owns its templates) and stays as PostgreSQL ships it, with no CREATE for the role.
    assert {name: db["connect"] for name, db in state["databases"].items()} == {
        "postgres": True, "reporting": False, "template1": True}
    assert not any(db["create"] for db in state["databases"].values())
    schema = state["schemas"]["mlflow"]
    assert (schema["owner"], schema["usage"], schema["create"]) == (ROLE, True, True)
    assert schema["acl"] in (None, f"{{{ROLE}=UC/{ROLE}}}")  # its own, and nobody else's
    assert [name for name, s in state["schemas"].items() if s["create"]] == ["mlflow"]
    assert state["settings"] == [("mlflow", ["search_path=mlflow"])]


def test_a_schema_an_earlier_bootstrap_gave_the_admin_becomes_the_role_s_with_its_tables(cluster):
    """The state an earlier bootstrap left (the schema the admin's, USAGE and CREATE for the role, MLflow's tables
    the role's): a run moves the schema to the role and leaves no membership behind."""
    env = rendered_plan("token")
    run_bootstrap(cluster, env, "rds_master", ADMIN_PASSWORD)
    with superuser(cluster, "mlflow") as sql:
        sql.execute(f"ALTER SCHEMA mlflow OWNER TO rds_master; GRANT USAGE, CREATE ON SCHEMA mlflow TO {ROLE}")
        sql.execute(f"SET ROLE {ROLE}; CREATE TABLE mlflow.experiments (id int); RESET ROLE")
    run_bootstrap(cluster, env, "rds_master", ADMIN_PASSWORD)
    state = catalogue_state(cluster)
    assert state["schemas"]["mlflow"]["owner"] == ROLE and state["members"] == []
    assert state["databases"]["mlflow"]["create"] is False
    with superuser(cluster, "mlflow") as sql:
        sql.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'mlflow'")
        assert sql.fetchall() == [(ROLE,)]


def test_on_16_and_later_a_role_the_admin_did_not_create_fails_clearly(cluster):
    """Cloud SQL and Entra make the workload's role themselves: on 16+ the admin needs ADMIN OPTION on it."""
    if server_version(cluster) < 160000:
        pytest.skip("PostgreSQL 15 and older let CREATEROLE grant any role")
    with superuser(cluster) as sql:
        sql.execute(f"CREATE ROLE {ROLE} LOGIN")
    with pytest.raises(BootstrapError, match=f"the admin 'rds_master' cannot give it its schema; on PostgreSQL 16"):
        run_bootstrap(cluster, rendered_plan("token"), "rds_master", ADMIN_PASSWORD)
    with superuser(cluster) as sql:  # what the error says to run, as a role that has ADMIN OPTION on it
        sql.execute(f"GRANT {ROLE} TO rds_master WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
    run_bootstrap(cluster, rendered_plan("token"), "rds_master", ADMIN_PASSWORD)
    assert catalogue_state(cluster)["schemas"]["mlflow"]["owner"] == ROLE


def test_the_rds_master_closes_the_postgres_database_it_owns(cluster):
    with superuser(cluster) as sql:
        sql.execute("ALTER DATABASE postgres OWNER TO rds_master")  # as on RDS, where the master owns it
    try:
        run_bootstrap(cluster, rendered_plan("token"), "rds_master", ADMIN_PASSWORD)
        assert catalogue_state(cluster)["databases"]["postgres"]["connect"] is False
    finally:
        with superuser(cluster) as sql:
            sql.execute(f"ALTER DATABASE postgres OWNER TO {cluster.user}")


def test_as_a_superuser_every_other_database_is_closed_and_the_password_signs_in(cluster):
    env = rendered_plan("static")
    run_bootstrap(cluster, env, cluster.user, cluster.password)
    run_bootstrap(cluster, env, cluster.user, cluster.password)
    state = catalogue_state(cluster)
    assert {name: db["connect"] for name, db in state["databases"].items()} == {
        "mlflow": True, "postgres": False, "reporting": False, "template1": False}
    assert state["member_of"] == [] and state["attributes"]["superuser"] is False
    workload = connect(cluster, "mlflow", ROLE, "workload-password")
    workload.autocommit = True
    try:
        with workload.cursor() as sql:
            sql.execute("CREATE TABLE experiments (id int)")  # MLflow's migration: lands in its own schema
            sql.execute("SELECT current_schema(), (SELECT schemaname FROM pg_tables WHERE tablename = 'experiments')")
            assert sql.fetchone() == ("mlflow", "mlflow")
            for forbidden in ("CREATE SCHEMA elsewhere", "CREATE ROLE another", "CREATE DATABASE another",
                              "CREATE TABLE public.escape (id int)"):
                with pytest.raises(Exception, match="permission denied"):
                    sql.execute(forbidden)
    finally:
        workload.close()
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(cluster, "reporting", ROLE, "workload-password")


def test_a_cloud_that_creates_the_role_itself_fails_clearly_when_it_is_missing(cluster):
    env = rendered_plan("connector")  # Cloud SQL: the IAM database user is made by the cloud, not by SQL
    with pytest.raises(BootstrapError, match=f"role '{ROLE}' does not exist and the cloud's create statements"):
        run_bootstrap(cluster, env, "rds_master", ADMIN_PASSWORD)


def test_the_plan_holds_no_secret_and_names_its_statements():
    env = rendered_plan("static")
    plan = json.loads(env["MLOPS_DB_BOOTSTRAP"])
    assert "workload-password" not in env["MLOPS_DB_BOOTSTRAP"]
    assert plan["secret_parameters"] == ["password"]
    assert plan["ensure"] == ["ALTER ROLE {role} PASSWORD %(password)s"]
