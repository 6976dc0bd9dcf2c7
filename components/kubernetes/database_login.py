"""How a pod signs in to the platform's PostgreSQL, rendered from the cloud layer's credential kind.

One rendering for every workload that opens a database connection (the MLflow server, its migration Job, the
bootstrap Job), so none of them knows the cloud (``mlops_platform.cloud_layer.DatabaseLogin``):

- ``RefreshedToken``: the token refresher from the tracking image as a native sidecar (an init container with
  ``restartPolicy: Always``, gated by its startup probe, so the workload starts only once a credential is there). It
  writes ``PGPASSFILE`` on an in-memory volume (mode 0600) that libpq reads at every new connection.
- ``ConnectorSidecar``: the cloud's connector as a native sidecar; the workload connects to it on 127.0.0.1.
- ``StaticPassword``: ``PGPASSWORD`` from a Kubernetes Secret (``local`` only).

The workload's connection string carries no password in any case: libpq finds it in the pass file or the
environment from a Secret, never in a pod spec value, an argument or a log line.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from ..cloud_layer import (
    TRACKING_IMAGE_CA_BUNDLES,
    ConnectorSidecar,
    DatabaseAccess,
    DatabaseAdmin,
    DatabaseLogin,
    DatabaseRole,
    DatabaseTls,
    RefreshedToken,
    StaticPassword,
)
from .container_resources import ComputeSettings, resource_requirements
from .pod_security import container_security_context
from ..validation import DNS_LABEL, ArgumentError, pinned_image, reject_unknown_keys, shown

LOGIN_VOLUME = "database-login"
LOGIN_DIR = "/var/run/mlops-database"
PASSFILE = f"{LOGIN_DIR}/pgpass"
REFRESHER_NAME = "database-token"
REFRESHER_COMMAND = ["python", "-m", "serving_image.tracking.token_refresher"]
REFRESHER_HEALTH_PORT = 8087
READY_PATH = "/readyz"
"""200 while the pass file holds a credential that has not expired."""
LIVE_PATH = "/livez"
"""200 while the refresh loop runs."""
SIDECAR_COMPUTE = ComputeSettings("10m", "64Mi", "200m", "128Mi", 0)
PASSWORD_KEY = "password"
"""Key of the password in a static login's Secret."""
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
REFRESH_SECONDS = (10, 3600)
"""Allowed range of ``RefreshedToken.refresh_seconds``: often enough for 15-minute tokens, rarely enough to be cheap."""


class RefreshedTokenArgs(TypedDict):
    """A short-lived credential the token refresher sidecar gets from the pod's workload identity (the cloud-layer
    contract's ``RefreshedToken``)."""

    source: str
    """A token source of the refresher: ``aws-rds-iam``, ``aws-secrets-manager`` or ``azure-entra``."""
    settings: NotRequired[pulumi.Input[Mapping[str, str]]]
    """Plain (never secret) environment the source reads, e.g. ``AWS_REGION``."""
    refresh_seconds: NotRequired[int]
    """Longest time between two refreshes (10-3600, default 300)."""


class ConnectorSidecarArgs(TypedDict):
    """A proxy next to the workload that signs in with the pod's workload identity (the contract's
    ``ConnectorSidecar``, e.g. GCP's ``Database.proxy``)."""

    name: str
    """Container name (a DNS label)."""
    image: str
    """Pinned by tag (and digest where the stack pins digests)."""
    args: pulumi.Input[list[str]]
    """Container args."""
    health_port: int
    """Port of its health endpoints."""
    startup_path: str
    liveness_path: str
    readiness_path: str
    run_as_user: NotRequired[int]
    """The image's non-root user (default 65532)."""


class DatabaseLoginArgs(TypedDict):
    """How a pod signs in: exactly one of the three kinds."""

    static_password: NotRequired[pulumi.Input[str]]
    """A password kept in a Kubernetes Secret (an in-cluster database only); a Pulumi secret."""
    refreshed_token: NotRequired[RefreshedTokenArgs]
    connector_sidecar: NotRequired[ConnectorSidecarArgs]


class DatabaseTlsArgs(TypedDict):
    """How libpq checks the database server."""

    mode: NotRequired[str]
    """libpq's ``sslmode`` (default ``verify-full``)."""
    ca_bundle: NotRequired[str]
    """A CA bundle the tracking image ships (``aws-rds`` or ``system``); required with ``verify-ca``/``verify-full``."""


class DatabaseRoleArgs(TypedDict):
    """The SQL that gives the workload's role its credential kind, run by the bootstrap Job as the admin."""

    create: NotRequired[list[str]]
    """Run once, only when the role does not exist yet; ``{role}`` is the role name."""
    ensure: NotRequired[list[str]]
    """Run on every bootstrap; must be idempotent."""
    parameters: NotRequired[pulumi.Input[Mapping[str, str]]]
    """Plain values for ``%(name)s`` placeholders."""
    secret_parameters: NotRequired[pulumi.Input[Mapping[str, str]]]
    """Secret values for ``%(name)s``; kept in a Kubernetes Secret."""


class DatabaseAdminArgs(TypedDict):
    """How the bootstrap Job signs in as the database's administrator."""

    username: pulumi.Input[str]
    login: DatabaseLoginArgs


class DatabaseAccessArgs(TypedDict):
    """How the platform's pods reach and sign in to PostgreSQL (the cloud-layer contract's ``DatabaseAccess`` as
    plain data)."""

    host: pulumi.Input[str]
    """Where libpq connects from a pod (``127.0.0.1`` with a connector sidecar)."""
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    username: pulumi.Input[str]
    """The workload's own role: not the admin."""
    login: DatabaseLoginArgs
    """How the workload signs in as ``username``."""
    admin: DatabaseAdminArgs
    tls: NotRequired[DatabaseTlsArgs]
    """Default: ``verify-full`` against the system roots."""
    role: NotRequired[DatabaseRoleArgs]
    schema: NotRequired[str]
    """The schema the workload's tables live in (default ``mlflow``)."""


_LOGIN_KINDS = ("static_password", "refreshed_token", "connector_sidecar")


def database_access(value: Any, field_name: str = "database") -> DatabaseAccess:
    """``value`` (a ``DatabaseAccessArgs`` mapping, or the cloud layer's ``DatabaseAccess``) as a
    ``DatabaseAccess``; checked by :func:`validate_database_access` afterwards."""
    if isinstance(value, DatabaseAccess):
        return value
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{field_name}: {shown(value)} is not allowed; use a mapping with host, port, database, "
                            f"username, login and admin")
    reject_unknown_keys(value, {"host", "port", "database", "username", "login", "admin", "tls", "role", "schema"},
                        field_name)
    for key in ("host", "port", "database", "username", "login", "admin"):
        if value.get(key) is None:
            raise ArgumentError(f"{field_name}.{key}: missing; it is required")
    admin = value["admin"]
    if not isinstance(admin, Mapping) or admin.get("username") is None:
        raise ArgumentError(f"{field_name}.admin: {admin!r} is not allowed; use a mapping with username and login")
    reject_unknown_keys(admin, {"username", "login"}, f"{field_name}.admin")
    tls = value.get("tls") or {"mode": "verify-full", "ca_bundle": "system"}
    reject_unknown_keys(tls, {"mode", "ca_bundle"}, f"{field_name}.tls")
    role = value.get("role") or {}
    reject_unknown_keys(role, {"create", "ensure", "parameters", "secret_parameters"}, f"{field_name}.role")
    return DatabaseAccess(
        host=pulumi.Output.from_input(value["host"]),
        port=pulumi.Output.from_input(value["port"]),
        database=pulumi.Output.from_input(value["database"]),
        username=pulumi.Output.from_input(value["username"]),
        login=_login(value["login"], f"{field_name}.login"),
        tls=DatabaseTls(mode=tls.get("mode", "verify-full"), ca_bundle=tls.get("ca_bundle")),
        role=DatabaseRole(create=tuple(role.get("create") or ()), ensure=tuple(role.get("ensure") or ()),
                          parameters=role.get("parameters") or {}, secret_parameters=role.get("secret_parameters")),
        admin=DatabaseAdmin(username=admin["username"], login=_login(admin.get("login"), f"{field_name}.admin.login")),
        schema=value.get("schema", "mlflow"),
    )


def _login(value: Any, field_name: str) -> DatabaseLogin:
    given = [kind for kind in _LOGIN_KINDS if isinstance(value, Mapping) and value.get(kind) is not None]
    if not isinstance(value, Mapping) or len(given) != 1:
        raise ArgumentError(f"{field_name}: {shown(value)} is not allowed; give exactly one of {', '.join(_LOGIN_KINDS)}")
    reject_unknown_keys(value, set(_LOGIN_KINDS), field_name)
    kind, spec = given[0], value[given[0]]
    if kind == "static_password":
        return StaticPassword(password=pulumi.Output.secret(spec))
    if not isinstance(spec, Mapping):
        raise ArgumentError(f"{field_name}.{kind}: {spec!r} is not allowed; use a mapping")
    if kind == "refreshed_token":
        reject_unknown_keys(spec, {"source", "settings", "refresh_seconds"}, f"{field_name}.{kind}")
        return RefreshedToken(source=spec.get("source"), settings=spec.get("settings") or {},
                              refresh_seconds=spec.get("refresh_seconds", 300))
    keys = ("name", "image", "args", "health_port", "startup_path", "liveness_path", "readiness_path")
    reject_unknown_keys(spec, {*keys, "run_as_user"}, f"{field_name}.{kind}")
    missing = [key for key in keys if spec.get(key) is None]
    if missing:
        raise ArgumentError(f"{field_name}.{kind}.{missing[0]}: missing; it is required")
    return ConnectorSidecar(**{key: spec[key] for key in keys}, run_as_user=spec.get("run_as_user", 65532))


def validate_database_access(access: DatabaseAccess, field_name: str = "database") -> None:
    """Check what the cloud layer put in the contract, before anything is rendered; one-line errors naming the
    field, the value and what is allowed."""
    validate_tls(access.tls, f"{field_name}.tls")
    validate_login(access.login, f"{field_name}.login")
    validate_login(access.admin.login, f"{field_name}.admin.login")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", access.schema):
        raise ArgumentError(f"{field_name}.schema: {access.schema!r} is not allowed; use 1 to 63 lowercase letters, "
                            f"digits or '_', not starting with a digit")
    for where, statements in (("create", access.role.create), ("ensure", access.role.ensure)):
        for index, statement in enumerate(statements):
            if not isinstance(statement, str) or not statement.strip() or ";" in statement.rstrip().rstrip(";"):
                raise ArgumentError(f"{field_name}.role.{where}[{index}]: {statement!r} is not allowed; use one SQL "
                                    f"statement per entry")


def validate_tls(tls: DatabaseTls, field_name: str) -> None:
    if tls.mode not in SSL_MODES:
        raise ArgumentError(f"{field_name}.mode: {tls.mode!r} is not allowed; use one of {', '.join(SSL_MODES)}")
    if tls.ca_bundle is not None and tls.ca_bundle not in TRACKING_IMAGE_CA_BUNDLES:
        raise ArgumentError(f"{field_name}.ca_bundle: {tls.ca_bundle!r} is not allowed; use one of "
                            f"{', '.join(TRACKING_IMAGE_CA_BUNDLES)} (the bundles the tracking image ships)")
    if tls.mode.startswith("verify-") and tls.ca_bundle is None:
        raise ArgumentError(f"{field_name}.ca_bundle: None is not allowed with mode {tls.mode!r}; name the CA "
                            f"bundle to verify against ({', '.join(TRACKING_IMAGE_CA_BUNDLES)})")


def validate_login(login: DatabaseLogin, field_name: str) -> None:
    if isinstance(login, RefreshedToken):
        if not isinstance(login.source, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", login.source):
            raise ArgumentError(f"{field_name}.source: {login.source!r} is not allowed; use the name of a token "
                                f"source of the refresher, such as aws-rds-iam")
        low, high = REFRESH_SECONDS
        if not isinstance(login.refresh_seconds, int) or not low <= login.refresh_seconds <= high:
            raise ArgumentError(f"{field_name}.refresh_seconds: {login.refresh_seconds!r} is not allowed; use an "
                                f"integer from {low} to {high}")
    elif isinstance(login, ConnectorSidecar):
        if not re.fullmatch(DNS_LABEL, login.name) or login.name == REFRESHER_NAME:
            raise ArgumentError(f"{field_name}.name: {login.name!r} is not allowed; use a DNS label other than "
                                f"{REFRESHER_NAME}")
        pinned_image(login.image, f"{field_name}.image", tag_required=True)
        for key in ("startup_path", "liveness_path", "readiness_path"):
            if not str(getattr(login, key)).startswith("/"):
                raise ArgumentError(f"{field_name}.{key}: {getattr(login, key)!r} is not allowed; use an HTTP path "
                                    f"starting with '/'")
    elif not isinstance(login, StaticPassword):
        raise ArgumentError(f"{field_name}: {type(login).__name__} is not allowed; use StaticPassword, "
                            f"RefreshedToken or ConnectorSidecar")


def ca_path(tls: DatabaseTls) -> str | None:
    return TRACKING_IMAGE_CA_BUNDLES[tls.ca_bundle] if tls.ca_bundle else None


def backend_uri(host: str, port: int, database: str, username: str, tls: DatabaseTls) -> str:
    """MLflow's backend store URI: the psycopg2 driver (the tracking image's), the user and no password (libpq reads
    it from the pass file or the environment), and TLS as the cloud layer asks."""
    query = f"sslmode={tls.mode}"
    if tls.ca_bundle:
        query += f"&sslrootcert={ca_path(tls)}"
    return f"postgresql+psycopg2://{quote(username, safe='')}@{host}:{port}/{quote(database, safe='')}?{query}"


def libpq_env(host: pulumi.Input[str], port: pulumi.Input[int], database: pulumi.Input[str],
              username: pulumi.Input[str], tls: DatabaseTls) -> list[k8s.core.v1.EnvVarArgs]:
    """The standard libpq variables for a program that connects without a URI (the bootstrap Job)."""
    env = [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value=host),
        k8s.core.v1.EnvVarArgs(name="PGPORT", value=pulumi.Output.from_input(port).apply(str)),
        k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=database),
        k8s.core.v1.EnvVarArgs(name="PGUSER", value=username),
        k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value=tls.mode),
    ]
    if tls.ca_bundle:
        env.append(k8s.core.v1.EnvVarArgs(name="PGSSLROOTCERT", value=ca_path(tls)))
    return env


@dataclass
class PodLogin:
    """What to add to a pod so its containers sign in: sidecars, volumes, and the mounts and env of each container
    that opens connections."""

    sidecars: list[k8s.core.v1.ContainerArgs] = field(default_factory=list)
    volumes: list[k8s.core.v1.VolumeArgs] = field(default_factory=list)
    mounts: list[k8s.core.v1.VolumeMountArgs] = field(default_factory=list)
    env: list[k8s.core.v1.EnvVarArgs] = field(default_factory=list)


def login_secret(resource_name: str, secret_name: str, namespace: pulumi.Input[str], login: DatabaseLogin,
                 opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
    """The Secret a static login's password lives in (None for the other kinds, which keep no secret)."""
    if not isinstance(login, StaticPassword):
        return None
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=namespace),
        type="Opaque",
        string_data={PASSWORD_KEY: pulumi.Output.secret(login.password)},
        opts=opts,
    )


def pod_login(login: DatabaseLogin, *, host: pulumi.Input[str], port: pulumi.Input[int],
              username: pulumi.Input[str], image: pulumi.Input[str], uid: int, secret_name: str) -> PodLogin:
    """Render ``login`` for one pod; ``image`` is the tracking image (it holds the refresher), ``uid`` the pod's
    user (the pass file is its own, mode 0600), ``secret_name`` the static login's Secret."""
    if isinstance(login, StaticPassword):
        return PodLogin(env=[k8s.core.v1.EnvVarArgs(name="PGPASSWORD", value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=PASSWORD_KEY)))])
    if isinstance(login, ConnectorSidecar):
        return PodLogin(sidecars=[_connector(login)])
    volume = k8s.core.v1.VolumeArgs(name=LOGIN_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
        medium="Memory", size_limit="1Mi"))
    return PodLogin(
        sidecars=[_refresher(login, host=host, port=port, username=username, image=image, uid=uid)],
        volumes=[volume],
        mounts=[k8s.core.v1.VolumeMountArgs(name=LOGIN_VOLUME, mount_path=LOGIN_DIR, read_only=True)],
        env=[k8s.core.v1.EnvVarArgs(name="PGPASSFILE", value=PASSFILE)],
    )


def refresher_env(login: RefreshedToken, host: str, port: int, username: str,
                  settings: Mapping[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
    """The refresher's environment (``serving_image.tracking.token_refresher``): where the credential is for, where
    it goes, how often, and the source's own plain settings."""
    fixed = {
        "MLOPS_DB_TOKEN_SOURCE": login.source,
        "MLOPS_DB_HOST": host,
        "MLOPS_DB_PORT": str(port),
        "MLOPS_DB_USER": username,
        "MLOPS_DB_PASSFILE": PASSFILE,
        "MLOPS_DB_REFRESH_SECONDS": str(login.refresh_seconds),
        "MLOPS_DB_HEALTH_PORT": str(REFRESHER_HEALTH_PORT),
    }
    clash = sorted(set(fixed) & set(settings))
    if clash:
        raise ArgumentError(f"database.login.settings.{clash[0]}: not allowed; the Kubernetes layer sets it")
    return [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in {**fixed, **dict(settings)}.items()]


def _probe(path: str, port: int, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
                                 period_seconds=period, timeout_seconds=2, failure_threshold=failures)


def _refresher(login: RefreshedToken, *, host: pulumi.Input[str], port: pulumi.Input[int],
               username: pulumi.Input[str], image: pulumi.Input[str], uid: int) -> k8s.core.v1.ContainerArgs:
    env = pulumi.Output.all(host, port, username, pulumi.Output.from_input(login.settings)).apply(
        lambda values: refresher_env(login, values[0], values[1], values[2], values[3]))
    return k8s.core.v1.ContainerArgs(
        name=REFRESHER_NAME,
        image=image,
        image_pull_policy="IfNotPresent",
        command=REFRESHER_COMMAND,
        restart_policy="Always",
        env=env,
        ports=[k8s.core.v1.ContainerPortArgs(name="token-health", container_port=REFRESHER_HEALTH_PORT,
                                             protocol="TCP")],
        # The workload starts only once a credential is written (up to two minutes for the identity provider).
        startup_probe=_probe(READY_PATH, REFRESHER_HEALTH_PORT, 2, 60),
        readiness_probe=_probe(READY_PATH, REFRESHER_HEALTH_PORT, 10, 3),
        liveness_probe=_probe(LIVE_PATH, REFRESHER_HEALTH_PORT, 20, 3),
        resources=resource_requirements(SIDECAR_COMPUTE),
        security_context=container_security_context(uid),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=LOGIN_VOLUME, mount_path=LOGIN_DIR)],
    )


def _connector(login: ConnectorSidecar) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=login.name,
        image=login.image,
        image_pull_policy="IfNotPresent",
        args=login.args,
        restart_policy="Always",
        ports=[k8s.core.v1.ContainerPortArgs(name="connector-health", container_port=login.health_port,
                                             protocol="TCP")],
        startup_probe=_probe(login.startup_path, login.health_port, 2, 60),
        readiness_probe=_probe(login.readiness_path, login.health_port, 10, 3),
        liveness_probe=_probe(login.liveness_path, login.health_port, 20, 3),
        resources=resource_requirements(SIDECAR_COMPUTE),
        security_context=container_security_context(login.run_as_user),
    )

