"""The database bootstrap: makes the workload's own PostgreSQL role, as the admin, idempotently.

Run by the bootstrap Job (``python -m serving_image.tracking.database_bootstrap``) signed in as the admin through the
standard libpq environment (``PGHOST``, ``PGUSER``, ``PGSSLMODE``, ... and ``PGPASSFILE`` from the token refresher
or ``PGPASSWORD`` from a Secret). ``MLOPS_DB_BOOTSTRAP`` holds the plan as JSON (no secret in it)::

    {"role": "mlflow_tracking", "database": "mlflow", "schema": "mlflow",
     "create": ["CREATE ROLE {role} LOGIN"], "ensure": ["GRANT rds_iam TO {role}"],
     "parameters": {...}, "secret_parameters": ["password"]}

In one transaction, serialised by an advisory lock: the cloud's ``create`` statements when the role does not exist,
its ``ensure`` statements, then the same least privilege everywhere. The role may log in and is no superuser, cannot
create roles or databases, replicate or bypass row security; it may CONNECT to its own database (PUBLIC may not),
and every other database the admin owns is closed to PUBLIC and to it; it owns a schema of its own (its
``search_path`` there), where MLflow's tables live, and may create nothing anywhere else (no CREATE on the database
or on ``public``). A managed database's admin (RDS, Cloud SQL, Flexible Server) is no superuser, so giving the
schema to the role takes a membership in it that lasts only inside the transaction (``_able_to_become``). A second
run ends in the same state and, once the schema is the role's, needs no membership at all.

Secret parameters come from ``MLOPS_DB_PARAM_<NAME>`` (a Secret); nothing secret is logged.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

LOCK_KEY = 0x6D6C6F7073
"""``pg_advisory_xact_lock`` key: two bootstrap runs never interleave."""
SECRET_PARAMETER_PREFIX = "MLOPS_DB_PARAM_"


class BootstrapError(RuntimeError):
    """The plan cannot be applied; the message says what to fix."""


def read_plan(env: Mapping[str, str]) -> dict[str, Any]:
    try:
        plan = json.loads(env["MLOPS_DB_BOOTSTRAP"])
    except KeyError:
        raise BootstrapError("MLOPS_DB_BOOTSTRAP: missing; set it to the bootstrap plan (JSON)") from None
    except ValueError as error:
        raise BootstrapError(f"MLOPS_DB_BOOTSTRAP: not JSON ({error})") from None
    for key in ("role", "database", "schema"):
        if not isinstance(plan.get(key), str) or not plan[key]:
            raise BootstrapError(f"MLOPS_DB_BOOTSTRAP.{key}: {plan.get(key)!r} is not allowed; use a name")
    parameters = {**plan.get("parameters", {}), "role": plan["role"]}
    for name in plan.get("secret_parameters", []):
        variable = f"{SECRET_PARAMETER_PREFIX}{name.upper()}"
        if variable not in env:
            raise BootstrapError(f"{variable}: missing; the secret parameter {name!r} comes from it")
        parameters[name] = env[variable]
    return {**plan, "parameters": parameters}


def bootstrap(connection: Any, plan: Mapping[str, Any], log: Any = print) -> dict[str, Any]:
    """Apply ``plan`` through ``connection`` (psycopg2, not in autocommit) and commit; return what it did."""
    from psycopg2 import sql

    role, database, schema = plan["role"], plan["database"], plan["schema"]
    parameters = plan["parameters"]
    names = {"role": sql.Identifier(role), "database": sql.Identifier(database), "schema": sql.Identifier(schema)}

    def run(statement: str, values: Mapping[str, Any] | None = None) -> list[tuple]:
        cursor.execute(sql.SQL(statement).format(**names), values)
        return cursor.fetchall() if cursor.description else []

    with connection, connection.cursor() as cursor:
        run("SELECT pg_advisory_xact_lock(%(key)s)", {"key": LOCK_KEY})
        admin, superuser, current = run("SELECT current_user, rolsuper, current_database() FROM pg_roles "
                                        "WHERE rolname = current_user")[0]
        if current != database:
            raise BootstrapError(f"PGDATABASE: {current!r} is not allowed; connect to the workload's database "
                                 f"{database!r}")
        if role == admin:
            raise BootstrapError(f"MLOPS_DB_BOOTSTRAP.role: {role!r} is not allowed; it is the admin itself")
        created = not run("SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": role})
        if created:
            for statement in plan.get("create", []):
                run(statement, parameters)
            if not run("SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": role}):
                raise BootstrapError(f"role {role!r} does not exist and the cloud's create statements did not make "
                                     f"it (on Cloud SQL, the IAM database user must exist first)")
        for statement in plan.get("ensure", []):
            run(statement, parameters)

        attributes = run("SELECT rolsuper, rolreplication, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin "
                         "FROM pg_roles WHERE rolname = %(role)s", {"role": role})[0]
        if any(attributes[:3]):
            raise BootstrapError(f"role {role!r} is a superuser, may replicate or bypasses row security; the admin "
                                 f"cannot take that back, so a superuser must (ALTER ROLE ... NOSUPERUSER "
                                 f"NOREPLICATION NOBYPASSRLS)")
        if attributes[3] or attributes[4] or not attributes[5]:
            run("ALTER ROLE {role} WITH LOGIN NOCREATEROLE NOCREATEDB")

        # Its own database: CONNECT for the role, nothing for PUBLIC, no CREATE or TEMPORARY for the role.
        run("REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        run("REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM {role}")
        run("GRANT CONNECT ON DATABASE {database} TO {role}")
        # Every other database the admin owns (or, as a superuser, any): closed to PUBLIC and to the role.
        others = run("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname <> %(database)s "
                     "AND datallowconn AND (has_database_privilege(%(role)s, oid, 'CONNECT') "
                     "OR has_database_privilege(%(role)s, oid, 'TEMPORARY')) ORDER BY datname",
                     {"database": database, "role": role})
        closed, foreign = [], []
        for name, owner in others:
            if superuser or owner == admin:
                cursor.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(name)))
                cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(name),
                                                                                   names["role"]))
                closed.append(name)
            else:
                foreign.append(f"{name} (owner {owner})")
        if foreign:
            log(json.dumps({"event": "other_databases_left_open", "level": "warning", "databases": foreign,
                            "reason": "owned by another role; only it can revoke CONNECT from PUBLIC"}))

        # Its schema: the role's own (it owns every table MLflow makes there), its search_path; public: no CREATE.
        schema_owner = run("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %(schema)s",
                           {"schema": schema})
        if not schema_owner or schema_owner[0][0] != role:
            if schema_owner:  # an earlier bootstrap's schema, the admin's: nothing for PUBLIC before it changes hands
                run("REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
            with _able_to_become(run, admin, role, superuser):
                if schema_owner:  # a new owner needs CREATE on the database: for this statement only
                    run("GRANT CREATE ON DATABASE {database} TO {role}")
                    run("ALTER SCHEMA {schema} OWNER TO {role}")
                    run("REVOKE CREATE ON DATABASE {database} FROM {role}")
                else:
                    run("CREATE SCHEMA {schema} AUTHORIZATION {role}")
        if not run("SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                   "JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = %(role)s AND d.datname = %(database)s "
                   "AND %(setting)s = ANY(s.setconfig)",
                   {"role": role, "database": database, "setting": f"search_path={schema}"}):
            run("ALTER ROLE {role} IN DATABASE {database} SET search_path = {schema}")
        if run("SELECT 1 FROM pg_namespace, aclexplode(nspacl) AS acl WHERE nspname = 'public' "
               "AND acl.grantee = 0 AND acl.privilege_type = 'CREATE'"):
            run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    result = {"event": "database_bootstrapped", "level": "info", "role": role, "database": database,
              "schema": schema, "created": created, "closed_databases": closed}
    log(json.dumps(result, sort_keys=True))
    return result


@contextmanager
def _able_to_become(run: Any, admin: str, role: str, superuser: bool) -> Iterator[None]:
    """Let the admin make ``role`` the owner of something, for the rest of this transaction only.

    PostgreSQL lets a non-superuser give an object to a role only if it may ``SET ROLE`` to it. The admin gets that
    membership here and gives it back before the transaction commits, so no other session ever sees it (a lasting
    membership would hand the admin the role's own, ``rds_iam`` among them, which on RDS disables the master's
    password). PostgreSQL 15 and older grant it with CREATEROLE alone; 16 and later need ADMIN OPTION on the role,
    which the admin holds on every role it created (and is granted it here with INHERIT FALSE, so it never carries
    the role's privileges). A membership the admin already had stays as it was."""
    from psycopg2 import errors

    if superuser:
        yield
        return
    modern = int(run("SHOW server_version_num")[0][0]) >= 160000
    able = run("SELECT pg_has_role(current_user, %(role)s, %(how)s)",
               {"role": role, "how": "SET" if modern else "MEMBER"})
    if able[0][0]:
        yield
        return
    try:
        run("GRANT {role} TO CURRENT_USER" + (" WITH INHERIT FALSE, SET TRUE" if modern else ""))
    except errors.InsufficientPrivilege:
        raise BootstrapError(f"role {role!r}: the admin {admin!r} cannot give it its schema; on PostgreSQL 16 and "
                             f"later the admin needs ADMIN OPTION on it (it has it on the roles it created): a role "
                             f"that has it runs GRANT {role} TO {admin} WITH ADMIN OPTION, INHERIT FALSE, "
                             f"SET FALSE") from None
    yield
    run("REVOKE {role} FROM CURRENT_USER")


def main(env: Mapping[str, str] = os.environ) -> int:
    import psycopg2

    try:
        plan = read_plan(env)
        connection = psycopg2.connect("", connect_timeout=30, application_name="mlops-database-bootstrap")
        try:
            bootstrap(connection, plan)
        finally:
            connection.close()
    except BootstrapError as error:
        print(f"database bootstrap: {error}", file=sys.stderr)
        return 1
    except psycopg2.Error as error:
        print(f"database bootstrap: {type(error).__name__}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
