"""An Azure Database for PostgreSQL Flexible Server for MLflow's tracking store and model registry, reachable only
from the VNet, signed in to with Microsoft Entra tokens only.

What it gives: a server injected into its delegated subnet with its private DNS zone and public network access
disabled; Microsoft Entra authentication with password authentication off (no password exists for anyone);
an Entra administrator that is a managed identity of the database's own (``admin``), used only by the bootstrap Job
that creates the workloads' roles; TLS 1.2+ required (``require_secure_transport``); connection, disconnection,
slow-statement and pgaudit (DDL and role changes) logging to the stack's Log Analytics workspace; automated backups
for 7-35 days (optionally geo-redundant); zone-redundant high availability unless explicitly turned off; a
customer-managed Key Vault key as an option; storage that grows on its own; protection and a delete lock.

What it deliberately does not: create the workloads' database roles (the Kubernetes layer's bootstrap Job does,
signed in as the admin identity, with ``pgaadauth_create_principal_with_oid``), or allow a public endpoint.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.dbforpostgresql as dbforpostgresql
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
from pulumi import Input

from .key_vault import encryption_key
from .locks import delete_lock
from .roles import assign_role
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_bool, optional_int, reject_unknown_keys, require_wired

ENGINE_VERSIONS = ("16", "17")
"""PostgreSQL major versions offered; Flexible Server applies minor versions itself."""
DEFAULT_ENGINE_VERSION = "17"
PORT = 5432
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
"""The scope of an Entra access token that PostgreSQL Flexible Server accepts as a password."""
SERVER_PARAMETERS: Mapping[str, str] = {
    "require_secure_transport": "on",
    "ssl_min_protocol_version": "TLSv1.2",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_min_duration_statement": "1000",
    "shared_preload_libraries": "pg_stat_statements,pgaudit",
    "pgaudit.log": "ddl,role",
}
"""Server parameters set explicitly, so a portal change shows up as drift in the next preview."""
LOG_CATEGORIES = ("PostgreSQLLogs",)
_TIERS = {"Standard_B": "Burstable", "Standard_D": "GeneralPurpose", "Standard_E": "MemoryOptimized"}
_SKU = r"Standard_(B\d+m?s|[DE]\d+d?s_v[345])"
_NAME = r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"
_CONFIG_KEYS = frozenset({"server_name", "engine_version", "sku_name", "storage_size_gib", "multi_az",
                          "backup_retention_days", "geo_redundant_backup", "database_name", "customer_managed_key"})
_WIRING_KEYS = frozenset({"resource_group_name", "location", "subnet_id", "dns_zone_id", "log_workspace_id"})


class DatabaseArgs(TypedDict):
    """Inputs of a database. The server name and the wiring are required; the rest have safe defaults."""

    server_name: str
    """The server name (fixed for its life; 3-63 lowercase letters, digits and '-'), globally unique: it is the host
    name ``<server_name>.postgres.database.azure.com``."""
    resource_group_name: Input[str]
    location: str
    subnet_id: Input[str]
    """A subnet delegated to ``Microsoft.DBforPostgreSQL/flexibleServers``."""
    dns_zone_id: Input[str]
    """A private DNS zone ``*.postgres.database.azure.com`` linked to the VNet."""
    log_workspace_id: Input[str]
    engine_version: NotRequired[str]
    """One of ``ENGINE_VERSIONS`` (default ``DEFAULT_ENGINE_VERSION``)."""
    sku_name: NotRequired[str]
    """A Flexible Server compute size: ``Standard_B2ms`` (burstable), ``Standard_D2ds_v5`` (default) or
    ``Standard_E4ds_v5`` (memory optimised); zone-redundant HA needs a D or E size."""
    storage_size_gib: NotRequired[int]
    """Initial storage, 32-16384 GiB (default 64); it grows on its own."""
    multi_az: NotRequired[bool]
    """A zone-redundant standby (default true; turning it off is a cost opt-out for development)."""
    backup_retention_days: NotRequired[int]
    """Days automated backups (point-in-time recovery) are kept, 7-35 (default 7)."""
    geo_redundant_backup: NotRequired[bool]
    """Copy backups to the paired region (default false); fixed at creation."""
    database_name: NotRequired[str]
    """The database MLflow uses (default ``mlflow``)."""
    customer_managed_key: NotRequired[bool]
    """Encrypt data and backups with a rotating key in the database's own Key Vault (default false); fixed at
    creation."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class DatabaseSettings:
    server_name: str
    engine_version: str
    sku_name: str
    sku_tier: str
    storage_size_gib: int
    multi_az: bool
    backup_retention_days: int
    geo_redundant_backup: bool
    database_name: str
    customer_managed_key: bool
    resource_group_name: Any = None
    location: str | None = None
    subnet_id: Any = None
    dns_zone_id: Any = None
    log_workspace_id: Any = None


def validate_database_args(args: Mapping[str, Any], field: str = "database", *,
                           wiring: bool = True) -> DatabaseSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    server_name = args.get("server_name")
    if not isinstance(server_name, str) or not re.fullmatch(_NAME, server_name):
        raise ArgumentError(f"{field_path(field, 'server_name')}: {server_name!r} is not allowed; use 3 to 63 "
                            f"lowercase letters, digits and '-', starting and ending with a letter or digit")
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS), field)
    version = args.get("engine_version", DEFAULT_ENGINE_VERSION)
    if version not in ENGINE_VERSIONS:
        raise ArgumentError(f"{field_path(field, 'engine_version')}: {version!r} is not allowed; use one of "
                            f"{', '.join(ENGINE_VERSIONS)} (quoted, as a string)")
    sku = args.get("sku_name", "Standard_D2ds_v5")
    if not isinstance(sku, str) or not re.fullmatch(_SKU, sku):
        raise ArgumentError(f"{field_path(field, 'sku_name')}: {sku!r} is not allowed; use a Flexible Server compute "
                            f"size such as Standard_B2ms, Standard_D2ds_v5 or Standard_E4ds_v5")
    tier = _TIERS[sku[:10]]
    multi_az = optional_bool(args, "multi_az", field, True)
    if multi_az and tier == "Burstable":
        raise ArgumentError(f"{field_path(field, 'sku_name')}: {sku!r} is not allowed with multi_az: true; "
                            f"zone-redundant high availability needs a GeneralPurpose (D) or MemoryOptimized (E) size")
    database_name = args.get("database_name", "mlflow")
    if (not isinstance(database_name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", database_name)
            or database_name in ("postgres", "azure_maintenance", "azure_sys")):
        raise ArgumentError(f"{field_path(field, 'database_name')}: {database_name!r} is not allowed; use 1 to 63 "
                            f"lowercase letters, digits or '_', starting with a letter (not postgres or azure_*)")
    return DatabaseSettings(
        server_name=server_name,
        engine_version=version,
        sku_name=sku,
        sku_tier=tier,
        storage_size_gib=optional_int(args, "storage_size_gib", field, 64, 32, 16384),
        multi_az=multi_az,
        backup_retention_days=optional_int(args, "backup_retention_days", field, 7, 7, 35),
        geo_redundant_backup=optional_bool(args, "geo_redundant_backup", field, False),
        database_name=database_name,
        customer_managed_key=optional_bool(args, "customer_managed_key", field, False),
        resource_group_name=args.get("resource_group_name"),
        location=args.get("location"),
        subnet_id=args.get("subnet_id"),
        dns_zone_id=args.get("dns_zone_id"),
        log_workspace_id=args.get("log_workspace_id"),
    )


class Database(pulumi.ComponentResource):
    """A private, Entra-only, TLS-only, backed-up PostgreSQL Flexible Server for MLflow."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    server_id: pulumi.Output[str]
    admin_name: pulumi.Output[str]
    """The Entra administrator's PostgreSQL role name (the admin identity's name)."""
    admin_client_id: pulumi.Output[str]
    admin_principal_id: pulumi.Output[str]
    admin_identity_id: pulumi.Output[str]
    """ARM id of the admin identity, which the bootstrap Job federates to."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_database_args(args)
        super().__init__("mlops:azure:Database", name, None, tagged_options(args.get("tags"), opts, "database.tags"))
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        group, location = settings.resource_group_name, settings.location

        admin = managedidentity.UserAssignedIdentity(f"{name}-admin", resource_group_name=group, location=location,
                                                     opts=child)
        identity, encryption, after = None, None, []
        if settings.customer_managed_key:
            identity, encryption, after = self._customer_key_encryption(name, settings, client)

        server = dbforpostgresql.Server(
            f"{name}-server",
            resource_group_name=group,
            location=location,
            server_name=settings.server_name,
            version=settings.engine_version,
            create_mode=dbforpostgresql.CreateMode.CREATE,
            sku=dbforpostgresql.SkuArgs(name=settings.sku_name, tier=settings.sku_tier),
            storage=dbforpostgresql.StorageArgs(storage_size_gb=settings.storage_size_gib,
                                                auto_grow=dbforpostgresql.StorageAutoGrow.ENABLED),
            backup=dbforpostgresql.BackupArgs(
                backup_retention_days=settings.backup_retention_days,
                geo_redundant_backup=(dbforpostgresql.GeographicallyRedundantBackup.ENABLED
                                      if settings.geo_redundant_backup
                                      else dbforpostgresql.GeographicallyRedundantBackup.DISABLED),
            ),
            high_availability=dbforpostgresql.HighAvailabilityArgs(
                mode=(dbforpostgresql.PostgreSqlFlexibleServerHighAvailabilityMode.ZONE_REDUNDANT if settings.multi_az
                      else dbforpostgresql.PostgreSqlFlexibleServerHighAvailabilityMode.DISABLED)),
            network=dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=settings.subnet_id,
                private_dns_zone_arm_resource_id=settings.dns_zone_id,
                public_network_access=dbforpostgresql.ServerPublicNetworkAccessState.DISABLED,
            ),
            auth_config=dbforpostgresql.AuthConfigArgs(
                active_directory_auth=dbforpostgresql.MicrosoftEntraAuth.ENABLED,
                password_auth=dbforpostgresql.PasswordBasedAuth.DISABLED,
                tenant_id=client.tenant_id,
            ),
            data_encryption=encryption,
            identity=identity,
            maintenance_window=dbforpostgresql.MaintenanceWindowArgs(custom_window="Enabled", day_of_week=0,
                                                                     start_hour=2, start_minute=0),
            opts=child.merge(pulumi.ResourceOptions(protect=True, depends_on=after)),
        )
        delete_lock(f"{name}-server", server.id, "Holds MLflow's experiments, runs and model registry", parent=self)
        entra_admin = dbforpostgresql.AdministratorsMicrosoftEntra(
            f"{name}-entra-admin",
            resource_group_name=group,
            server_name=server.name,
            object_id=admin.principal_id,
            principal_name=admin.name,
            principal_type=dbforpostgresql.PrincipalType.SERVICE_PRINCIPAL,
            tenant_id=client.tenant_id,
            opts=child,
        )
        # Flexible Server applies one change at a time: parameters go in sequence, after the administrator.
        previous: pulumi.Resource = entra_admin
        for parameter, value in SERVER_PARAMETERS.items():
            previous = dbforpostgresql.Configuration(
                f"{name}-{parameter.replace('.', '-').replace('_', '-')}",
                resource_group_name=group,
                server_name=server.name,
                configuration_name=parameter,
                value=value,
                source="user-override",
                opts=child.merge(pulumi.ResourceOptions(depends_on=[previous])),
            )
        database = dbforpostgresql.Database(
            f"{name}-database",
            resource_group_name=group,
            server_name=server.name,
            database_name=settings.database_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=child.merge(pulumi.ResourceOptions(protect=True, depends_on=[previous])),
        )
        monitor.DiagnosticSetting(
            f"{name}-logs",
            resource_uri=server.id,
            workspace_id=settings.log_workspace_id,
            log_analytics_destination_type="Dedicated",
            logs=[monitor.DiagnosticsLogSettingsArgs(category=category, enabled=True) for category in LOG_CATEGORIES],
            opts=child,
        )

        self.host = server.fully_qualified_domain_name
        self.port = pulumi.Output.from_input(PORT)
        self.database = database.name
        self.server_id = server.id
        self.admin_name = admin.name
        self.admin_client_id = admin.client_id
        self.admin_principal_id = admin.principal_id
        self.admin_identity_id = admin.id
        self.register_outputs({"host": self.host, "port": self.port, "database": self.database,
                               "server_id": self.server_id, "admin_name": self.admin_name,
                               "admin_client_id": self.admin_client_id, "admin_principal_id": self.admin_principal_id,
                               "admin_identity_id": self.admin_identity_id})

    def _customer_key_encryption(self, name: str, settings: DatabaseSettings, client: Any) -> (
            "tuple[dbforpostgresql.UserAssignedIdentityArgs, dbforpostgresql.DataEncryptionArgs, list[pulumi.Resource]]"):
        """A key of the database's own, and the identity the server unwraps its data keys with."""
        key = encryption_key(f"{name}-cmk", purpose="database", vault_name_prefix=f"{settings.server_name[:10]}-db-",
                             resource_group_name=settings.resource_group_name, location=settings.location,
                             tenant_id=client.tenant_id, parent=self)
        identity = managedidentity.UserAssignedIdentity(f"{name}-encryption-identity",
                                                        resource_group_name=settings.resource_group_name,
                                                        location=settings.location,
                                                        opts=pulumi.ResourceOptions(parent=self))
        grant = assign_role(f"{name}-encryption-key", role="Key Vault Crypto Service Encryption User",
                            scope=key.key.id, principal_id=identity.principal_id,
                            subscription_id=client.subscription_id, parent=self)
        identities = identity.id.apply(lambda identity_id: {identity_id: dbforpostgresql.UserIdentityArgs()})
        return (dbforpostgresql.UserAssignedIdentityArgs(type=dbforpostgresql.IdentityType.USER_ASSIGNED,
                                                         user_assigned_identities=identities),
                dbforpostgresql.DataEncryptionArgs(type=dbforpostgresql.DataEncryptionType.AZURE_KEY_VAULT,
                                                   primary_key_uri=key.key.key_uri_with_version,
                                                   primary_user_assigned_identity_id=identity.id),
                [grant])
