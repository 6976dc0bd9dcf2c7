"""A Cloud SQL for PostgreSQL instance for MLflow's tracking store and model registry, reachable only privately.

What it gives: an instance with a private IP in the platform's VPC (through Private Service Access) and no public
IPv4 or authorized networks; TLS required (``ENCRYPTED_ONLY``); automated daily backups kept ``backup_retention_days``
with point-in-time recovery; deletion protection twice (Cloud SQL's ``deletion_protection_enabled`` and the
provider's ``deletion_protection``) plus Pulumi's ``protect``; ``REGIONAL`` availability (a standby in another
zone) unless explicitly turned off; Query Insights; connection and disconnection logging; storage that grows on
its own up to a ceiling; and, with ``customer_managed_key``, a rotated Cloud KMS key for storage and backups with
Cloud SQL's service agent granted on it.

Sign-in is IAM database authentication (``cloudsql.iam_authentication``): the Google service accounts of the
workloads become Cloud SQL IAM users (``mlops_platform.gcp.workload_identity`` creates them with their accounts), and a
pod signs in through the Cloud SQL Auth Proxy with ``--auto-iam-authn`` (a short-lived OAuth token the proxy
refreshes), so no database password exists for any workload or admin.

What it deliberately does not: read replicas, a public IP, or a built-in user with a password.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
from pulumi import Input

from .encryption_key import service_encryption_key
from ..cloud_layer import ConnectorSidecar
from ..tagging import tagged_options
from ..validation import (
    ArgumentError,
    field_path,
    optional_bool,
    optional_int,
    pinned_image,
    reject_unknown_keys,
    require_wired,
)

ENGINE_VERSIONS = ("16", "17")
"""PostgreSQL major versions offered (``POSTGRES_<major>``); Cloud SQL applies minor versions in maintenance."""
DEFAULT_ENGINE_VERSION = "17"
PORT = 5432
DATABASE_FLAGS = {"cloudsql.iam_authentication": "on", "log_connections": "on", "log_disconnections": "on",
                  "log_lock_waits": "on", "log_min_error_statement": "error"}
_TIER = r"db-(custom-\d+-\d+|perf-optimized-N-\d+|n1-(standard|highmem)-\d+)"
_IDENTIFIER = r"[a-z]([a-z0-9-]{0,96}[a-z0-9])?"
_CONFIG_KEYS = frozenset({"identifier", "engine_version", "tier", "allocated_storage_gib",
                          "max_allocated_storage_gib", "multi_az", "backup_retention_days", "database_name",
                          "customer_managed_key", "proxy_image"})
PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.23.0"
"""The Cloud SQL Auth Proxy (v2; 2.23.0 is the release cloud-sql-proxy-operator moved to in 2026). Distroless,
runs as uid 65532."""
PROXY_HEALTH_PORT = 9090
PROXY_LISTEN_PORT = 5432
_WIRING_KEYS = frozenset({"project", "region", "private_network_id", "instance_labels"})


class DatabaseArgs(TypedDict):
    """Inputs of a database. The identifier and the network wiring are required; the rest have safe defaults."""

    identifier: str
    """The Cloud SQL instance name (fixed for the instance's life, and not reusable for a week after deletion;
    1-98 lowercase letters, digits and '-', starting with a letter)."""
    project: Input[str]
    region: str
    private_network_id: Input[str]
    """The VPC (``projects/<p>/global/networks/<n>``) whose Private Service Access gives the instance its IP."""
    engine_version: NotRequired[str]
    """One of ``ENGINE_VERSIONS`` (default ``DEFAULT_ENGINE_VERSION``)."""
    tier: NotRequired[str]
    """A dedicated-core machine tier (default db-custom-2-7680); shared-core tiers have no SLA and are refused."""
    allocated_storage_gib: NotRequired[int]
    """Initial SSD storage, 10-65536 GiB (default 20); grows automatically up to ``max_allocated_storage_gib``."""
    max_allocated_storage_gib: NotRequired[int]
    """Storage autoscaling ceiling (default 100)."""
    multi_az: NotRequired[bool]
    """``REGIONAL`` availability, a standby in another zone (default true; false is a cost opt-out for
    development)."""
    backup_retention_days: NotRequired[int]
    """Days of daily backups kept, 7-365 (default 7); point-in-time recovery reaches back as far (at most 7 days)."""
    database_name: NotRequired[str]
    """The database MLflow uses (default ``mlflow``)."""
    customer_managed_key: NotRequired[bool]
    """Encrypt storage and backups with a Cloud KMS key created here (default false: Google-managed keys)."""
    instance_labels: NotRequired[Mapping[str, str]]
    """Labels of the instance (the cost tags; Cloud SQL takes no provider default labels)."""
    proxy_image: NotRequired[str]
    """The Cloud SQL Auth Proxy image pods sign in through, pinned by tag (and digest where the stack pins digests);
    default ``PROXY_IMAGE``."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class DatabaseSettings:
    identifier: str
    engine_version: str
    tier: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    backup_retention_days: int
    database_name: str
    customer_managed_key: bool
    proxy_image: str = PROXY_IMAGE
    project: Any = None
    region: str | None = None
    private_network_id: Any = None
    instance_labels: Mapping[str, str] | None = None


def validate_database_args(args: Mapping[str, Any], field: str = "database", *, wiring: bool = True) -> DatabaseSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    if wiring:
        require_wired(args, ("project", "region", "private_network_id"), field)
    identifier = args.get("identifier")
    if not isinstance(identifier, str) or not re.fullmatch(_IDENTIFIER, identifier) or "--" in identifier:
        raise ArgumentError(f"{field_path(field, 'identifier')}: {identifier!r} is not allowed; use 1 to 98 lowercase "
                            f"letters, digits and single hyphens, starting with a letter")
    version = args.get("engine_version", DEFAULT_ENGINE_VERSION)
    if version not in ENGINE_VERSIONS:
        raise ArgumentError(f"{field_path(field, 'engine_version')}: {version!r} is not allowed; use one of "
                            f"{', '.join(ENGINE_VERSIONS)} (quoted, as a string)")
    tier = args.get("tier", "db-custom-2-7680")
    if not isinstance(tier, str) or not re.fullmatch(_TIER, tier):
        raise ArgumentError(f"{field_path(field, 'tier')}: {tier!r} is not allowed; use a dedicated-core tier such as "
                            f"db-custom-2-7680 (shared-core db-f1-micro and db-g1-small have no SLA)")
    allocated = optional_int(args, "allocated_storage_gib", field, 20, 10, 65536)
    ceiling = optional_int(args, "max_allocated_storage_gib", field, max(100, allocated), allocated, 65536)
    name = args.get("database_name", "mlflow")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name) or name in (
            "postgres", "cloudsqladmin", "template0", "template1"):
        raise ArgumentError(f"{field_path(field, 'database_name')}: {name!r} is not allowed; use 1 to 63 lowercase "
                            f"letters, digits or '_', starting with a letter (not postgres or cloudsqladmin)")
    labels = args.get("instance_labels")
    return DatabaseSettings(
        identifier=identifier,
        engine_version=version,
        tier=tier,
        allocated_storage_gib=allocated,
        max_allocated_storage_gib=ceiling,
        multi_az=optional_bool(args, "multi_az", field, True),
        backup_retention_days=optional_int(args, "backup_retention_days", field, 7, 7, 365),
        database_name=name,
        customer_managed_key=optional_bool(args, "customer_managed_key", field, False),
        proxy_image=pinned_image(args.get("proxy_image", PROXY_IMAGE), field_path(field, "proxy_image"),
                                 tag_required=True),
        project=args.get("project"),
        region=args.get("region"),
        private_network_id=args.get("private_network_id"),
        instance_labels=dict(labels) if labels else None,
    )


def auth_proxy(connection_name: pulumi.Input[str], image: str = PROXY_IMAGE) -> ConnectorSidecar:
    """The Cloud SQL Auth Proxy as a pod's native sidecar: it signs in to ``connection_name`` over the instance's
    private IP with the pod's own IAM identity (``--auto-iam-authn``) and serves plain PostgreSQL on 127.0.0.1
    only; its health endpoints answer the kubelet on the pod IP."""
    return ConnectorSidecar(
        name="cloud-sql-proxy",
        image=image,
        args=pulumi.Output.from_input(connection_name).apply(lambda name: [
            "--auto-iam-authn",
            "--private-ip",
            "--address=127.0.0.1",
            f"--port={PROXY_LISTEN_PORT}",
            "--structured-logs",
            "--health-check",
            "--http-address=0.0.0.0",
            f"--http-port={PROXY_HEALTH_PORT}",
            "--exit-zero-on-sigterm",
            name,
        ]),
        health_port=PROXY_HEALTH_PORT,
        startup_path="/startup",
        liveness_path="/liveness",
        readiness_path="/readiness",
    )


class Database(pulumi.ComponentResource):
    """A private, TLS-only, backed-up, IAM-authenticated Cloud SQL for PostgreSQL instance for MLflow."""

    host: pulumi.Output[str]
    """The instance's private IP."""
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    instance_name: pulumi.Output[str]
    connection_name: pulumi.Output[str]
    """``<project>:<region>:<instance>``: what the Cloud SQL Auth Proxy connects to."""
    proxy: ConnectorSidecar
    """How a pod signs in: the Cloud SQL Auth Proxy for this instance (``auth_proxy``)."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_database_args(args)
        super().__init__("mlops:gcp:Database", name, None, tagged_options(args.get("tags"), opts, "database.tags"))
        child = pulumi.ResourceOptions(parent=self)
        stateful = child.merge(pulumi.ResourceOptions(protect=True))

        encryption_key_name, after = None, []
        if settings.customer_managed_key:
            agent = gcp.projects.ServiceIdentity(f"{name}-sql-agent", project=settings.project,
                                                 service="sqladmin.googleapis.com", opts=child)
            key = service_encryption_key(f"{name}-key", parent=self, location=settings.region,
                                         project=settings.project, agent_member=agent.member)
            encryption_key_name, after = key.key.id, [key.grant]

        days = settings.backup_retention_days
        instance = gcp.sql.DatabaseInstance(
            f"{name}-instance",
            name=settings.identifier,
            project=settings.project,
            region=settings.region,
            database_version=f"POSTGRES_{settings.engine_version}",
            encryption_key_name=encryption_key_name,
            deletion_protection=True,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=settings.tier,
                edition="ENTERPRISE",
                availability_type="REGIONAL" if settings.multi_az else "ZONAL",
                disk_type="PD_SSD",
                disk_size=settings.allocated_storage_gib,
                disk_autoresize=True,
                disk_autoresize_limit=settings.max_allocated_storage_gib,
                deletion_protection_enabled=True,
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    private_network=settings.private_network_id,
                    ssl_mode="ENCRYPTED_ONLY",
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=True,
                    start_time="02:00",
                    transaction_log_retention_days=min(days, 7),
                    backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=days, retention_unit="COUNT"),
                ),
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                    query_insights_enabled=True, query_string_length=1024, record_application_tags=True,
                    record_client_address=True),
                database_flags=[gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=flag, value=value)
                                for flag, value in DATABASE_FLAGS.items()],
                maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(day=7, hour=3,
                                                                                         update_track="stable"),
                user_labels=dict(settings.instance_labels) if settings.instance_labels else None,
            ),
            opts=stateful.merge(pulumi.ResourceOptions(depends_on=after)),
        )
        database = gcp.sql.Database(f"{name}-database", name=settings.database_name, instance=instance.name,
                                    project=settings.project, opts=stateful)

        self.host = instance.private_ip_address
        self.port = pulumi.Output.from_input(PORT)
        self.database = database.name
        self.instance_name = instance.name
        self.connection_name = instance.connection_name
        self.proxy = auth_proxy(instance.connection_name, settings.proxy_image)
        self.register_outputs({"host": self.host, "port": self.port, "database": self.database,
                               "instance_name": self.instance_name, "connection_name": self.connection_name})
