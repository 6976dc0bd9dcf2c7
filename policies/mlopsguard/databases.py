"""Database rules for RDS, Cloud SQL and Azure Database for PostgreSQL flexible server: the MLflow backend store
and anything like it is private, encrypted, TLS-only, backed up with point-in-time recovery, protected from
deletion, highly available in production and logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity, StackValidationArgs

from .resources import PRODUCTION_SCHEMA_PROPERTIES, UNKNOWN, get, is_production, items, of_types, referred
from .rule import by_type, iso, nist, pci, resource_rule, stack_rule

RDS = "aws:rds/instance:Instance"
AURORA = "aws:rds/cluster:Cluster"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
AZURE_PG = "azure-native:dbforpostgresql:Server"
AZURE_PG_CONFIG = "azure-native:dbforpostgresql:Configuration"
DATABASES = (RDS, AURORA, CLOUD_SQL, AZURE_PG)


# --- no public access ---------------------------------------------------------------------------------------------

def _rds_public(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "publiclyAccessible") is True:
        yield "RDS instance is publicly accessible; set publiclyAccessible false"


def _sql_public(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    ip = get(props, "settings", "ipConfiguration")
    if ip is UNKNOWN:
        return
    if get(ip, "ipv4Enabled") not in (False, UNKNOWN):  # Cloud SQL gives a public IP unless told not to
        yield "Cloud SQL instance has a public IP; set settings.ipConfiguration.ipv4Enabled false (private IP only)"
    for network in items(get(ip, "authorizedNetworks")):
        if get(network, "value") in ("0.0.0.0/0", "::/0"):
            yield "Cloud SQL authorizes 0.0.0.0/0"


def _azure_public(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    access = get(props, "network", "publicNetworkAccess")
    if access not in ("Disabled", UNKNOWN):
        yield "PostgreSQL flexible server accepts public network access; set network.publicNetworkAccess Disabled"


NO_PUBLIC_ACCESS = resource_rule(
    name="database-no-public-access",
    description="Databases have no public endpoint, so the MLflow metadata and anything else in them is reachable "
                "only from the private network.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), nist("AC-3"), pci("1.4.4"), iso("A.8.20")],
    validate=by_type({RDS: _rds_public, CLOUD_SQL: _sql_public, AZURE_PG: _azure_public}),
    applies_to=(RDS, CLOUD_SQL, AZURE_PG),
    remediation_steps="Put the database in private subnets / private IP only, with public access off.",
)


# --- encryption ---------------------------------------------------------------------------------------------------

_CMK_SCHEMA = PolicyConfigSchema(properties={
    "requireCustomerManagedKey": {
        "type": "boolean", "default": False,
        "description": "Require a customer-managed key for database storage.",
    },
})


def _rds_encryption(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    encrypted = get(props, "storageEncrypted")
    if encrypted is UNKNOWN:
        return
    if encrypted is not True:
        yield "database storage is not encrypted; set storageEncrypted true"
    elif args.get_config().get("requireCustomerManagedKey") and get(props, "kmsKeyId") is None:
        yield "database storage is not encrypted with a customer-managed key (kmsKeyId)"


def _sql_encryption(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.get_config().get("requireCustomerManagedKey") and get(props, "encryptionKeyName") is None:
        yield "Cloud SQL instance has no customer-managed key (encryptionKeyName)"


def _azure_encryption(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if args.get_config().get("requireCustomerManagedKey") and get(props, "dataEncryption", "type") not in (
            "AzureKeyVault", UNKNOWN):
        yield "PostgreSQL flexible server has no customer-managed key (dataEncryption.type AzureKeyVault)"


ENCRYPTION = resource_rule(
    name="database-encryption-at-rest",
    description="Database storage, backups and snapshots are encrypted at rest (optionally with a customer-managed "
                "key). Cloud SQL and Azure always encrypt; RDS only when told to.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-28"), pci("3.5.1"), iso("A.8.24")],
    validate=by_type({RDS: _rds_encryption, AURORA: _rds_encryption, CLOUD_SQL: _sql_encryption,
                      AZURE_PG: _azure_encryption}),
    config_schema=_CMK_SCHEMA,
    applies_to=DATABASES,
    remediation_steps="RDS: storageEncrypted true (and kmsKeyId when a customer key is required).",
)


# --- TLS required (stack: RDS and Azure set it in parameter groups / server configurations) -----------------------

def _engine_major(props: Any) -> int | None:
    version = get(props, "engineVersion")
    if not isinstance(version, str) or not version.split(".")[0].isdigit():
        return None
    return int(version.split(".")[0])


def rds_requires_tls(args: StackValidationArgs, database: Any) -> bool | Any:
    """Whether an RDS/Aurora PostgreSQL database refuses plain connections: a linked parameter group sets
    ``rds.force_ssl`` to 1, or, with no such setting, the engine is PostgreSQL 15+ (where 1 is the default)."""
    engine = get(database.props, "engine")
    if engine is UNKNOWN:
        return UNKNOWN
    if not isinstance(engine, str) or "postgres" not in engine:
        return True  # MySQL and others: not judged here
    key = "dbClusterParameterGroupName" if database.resource_type == AURORA else "parameterGroupName"
    groups = referred(args.resources, database, key, {RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP})
    for group in groups:
        for parameter in items(get(group.props, "parameters")):
            if get(parameter, "name") == "rds.force_ssl":
                value = get(parameter, "value")
                return UNKNOWN if value is UNKNOWN else str(value) == "1"
    major = _engine_major(database.props)
    return major is not None and major >= 15


def _validate_tls(args: StackValidationArgs, report) -> None:
    for database in of_types(args.resources, {RDS, AURORA}):
        if rds_requires_tls(args, database) is False:
            report("PostgreSQL accepts plain connections: set rds.force_ssl=1 in its parameter group (default only "
                   "from PostgreSQL 15)", database.urn)
    for instance in of_types(args.resources, {CLOUD_SQL}):
        mode = get(instance.props, "settings", "ipConfiguration", "sslMode")
        if mode not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", UNKNOWN):
            report(f"Cloud SQL sslMode is {mode!r}; set ENCRYPTED_ONLY", instance.urn)
    for setting in of_types(args.resources, {AZURE_PG_CONFIG}):
        if get(setting.props, "configurationName") == "require_secure_transport" and str(
                get(setting.props, "value")).lower() in ("off", "0", "false"):
            report("PostgreSQL flexible server turns require_secure_transport off", setting.urn)


TLS_REQUIRED = stack_rule(
    name="database-tls-required",
    description="Databases refuse connections without TLS, so passwords and query results never cross the network "
                "in clear text.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-8"), pci("4.2.1"), iso("A.8.24")],
    validate=_validate_tls,
    applies_to=(RDS, AURORA, CLOUD_SQL, AZURE_PG_CONFIG),
    remediation_steps="RDS: rds.force_ssl=1. Cloud SQL: sslMode ENCRYPTED_ONLY. Azure: keep require_secure_transport.",
)


# --- backups with point-in-time recovery --------------------------------------------------------------------------

_BACKUP_SCHEMA = PolicyConfigSchema(properties={
    "minimumBackupDays": {
        "type": "integer", "minimum": 1, "maximum": 35, "default": 7,
        "description": "Days automated backups (and point-in-time recovery) must reach back.",
    },
})


def _rds_backups(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    days = get(props, "backupRetentionPeriod")
    minimum = args.get_config()["minimumBackupDays"]
    if days is UNKNOWN:
        return
    if not isinstance(days, (int, float)) or days < minimum:  # absent = 1 day (RDS) ; 0 turns PITR off
        yield f"backups are kept {days if days is not None else 'the default 1'} day(s); keep at least {minimum}"


def _sql_backups(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    backup = get(props, "settings", "backupConfiguration")
    if backup is UNKNOWN:
        return
    minimum = args.get_config()["minimumBackupDays"]
    if get(backup, "enabled") not in (True, UNKNOWN):
        yield "Cloud SQL automated backups are off (settings.backupConfiguration.enabled)"
    if get(backup, "pointInTimeRecoveryEnabled") not in (True, UNKNOWN):
        yield "Cloud SQL point-in-time recovery is off"
    retained = get(backup, "backupRetentionSettings", "retainedBackups")
    if isinstance(retained, (int, float)) and retained < minimum:
        yield f"Cloud SQL keeps {retained} backups; keep at least {minimum}"


def _azure_backups(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    days = get(props, "backup", "backupRetentionDays")
    minimum = args.get_config()["minimumBackupDays"]
    if isinstance(days, (int, float)) and days < minimum:
        yield f"backups are kept {days} day(s); keep at least {minimum}"


BACKUPS = resource_rule(
    name="database-backups",
    description="Databases keep automated backups for at least the configured number of days with point-in-time "
                "recovery, so the model registry can be restored to the minute before a mistake.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CP-9"), nist("CP-10"), iso("A.8.13")],
    validate=by_type({RDS: _rds_backups, AURORA: _rds_backups, CLOUD_SQL: _sql_backups, AZURE_PG: _azure_backups}),
    config_schema=_BACKUP_SCHEMA,
    applies_to=DATABASES,
    remediation_steps="RDS: backupRetentionPeriod >= minimumBackupDays. Cloud SQL: backups and PITR on. Azure: "
                      "backup.backupRetentionDays.",
)


# --- deletion protection ------------------------------------------------------------------------------------------

def _deletion_protection(flag: str | None) -> Any:
    def check(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
        if not args.opts.protect:
            yield "the database is not protected in Pulumi (protect=True), so a refactor could delete it"
        if flag is not None and get(props, flag) is not True and get(props, flag) is not UNKNOWN:
            yield f"cloud-side deletion protection is off ({flag})"
    return check


def _sql_deletion(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _deletion_protection(None)(props, args)
    if get(props, "deletionProtection") is False:  # the provider's own guard, on by default
        yield "Cloud SQL deletionProtection is off"
    if get(props, "settings", "deletionProtectionEnabled") is False:
        yield "Cloud SQL settings.deletionProtectionEnabled is off"


DELETION_PROTECTION = resource_rule(
    name="database-deletion-protection",
    description="Databases are protected from deletion twice: by the cloud's deletion protection and by Pulumi's "
                "protect option, so neither a console click nor a refactor drops the model registry.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CP-9"), nist("CM-3"), iso("A.8.32")],
    validate=by_type({RDS: _deletion_protection("deletionProtection"), AURORA: _deletion_protection(
        "deletionProtection"), CLOUD_SQL: _sql_deletion, AZURE_PG: _deletion_protection(None)}),
    applies_to=DATABASES,
    remediation_steps="Set deletionProtection true (RDS, Cloud SQL) and protect=True on the resource.",
)


# --- high availability in production ------------------------------------------------------------------------------

_PRODUCTION_SCHEMA = PolicyConfigSchema(properties=dict(PRODUCTION_SCHEMA_PROPERTIES))


def _in_production(args: ResourceValidationArgs) -> bool:
    provider_props = args.provider.props if args.provider is not None else None
    return is_production(args.resource_type, args.props, provider_props, args.get_config()) is True


def _rds_ha(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if _in_production(args) and get(props, "multiAz") not in (True, UNKNOWN):
        yield "production RDS instance is single-AZ; set multiAz true"


def _sql_ha(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if _in_production(args) and get(props, "settings", "availabilityType") not in ("REGIONAL", UNKNOWN):
        yield "production Cloud SQL instance is zonal; set settings.availabilityType REGIONAL"


def _azure_ha(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    if _in_production(args) and get(props, "highAvailability", "mode") not in ("ZoneRedundant", "SameZone", UNKNOWN):
        yield "production PostgreSQL flexible server has no standby; set highAvailability.mode ZoneRedundant"


HIGH_AVAILABILITY = resource_rule(
    name="database-high-availability",
    description="Production databases run with a synchronous standby in another zone, so one zone outage does not "
                "stop training runs and deployments that need the registry.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CP-7"), nist("SC-36"), iso("A.8.14")],
    validate=by_type({RDS: _rds_ha, CLOUD_SQL: _sql_ha, AZURE_PG: _azure_ha}),
    config_schema=_PRODUCTION_SCHEMA,
    applies_to=(RDS, CLOUD_SQL, AZURE_PG),
    remediation_steps="In production stacks: RDS multiAz, Cloud SQL REGIONAL, Azure highAvailability ZoneRedundant.",
)


# --- connection and audit logging ---------------------------------------------------------------------------------

def _rds_logs(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    engine = get(props, "engine")
    exports = get(props, "enabledCloudwatchLogsExports")
    if engine is UNKNOWN or exports is UNKNOWN or not isinstance(engine, str) or "postgres" not in engine:
        return
    if "postgresql" not in items(exports):
        yield "PostgreSQL logs are not exported to CloudWatch (enabledCloudwatchLogsExports: postgresql)"


def _sql_logs(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    flags = get(props, "settings", "databaseFlags")
    if flags is UNKNOWN:
        return
    values = {get(flag, "name"): get(flag, "value") for flag in items(flags)}
    missing = [name for name in ("log_connections", "log_disconnections") if values.get(name) not in ("on", UNKNOWN)]
    if missing:
        yield f"Cloud SQL flags {', '.join(missing)} are not 'on'"


DATABASE_LOGGING = resource_rule(
    name="database-audit-logging",
    description="Databases log connections and errors to the cloud's log service, so access to the model registry "
                "is auditable after the fact.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AU-2"), nist("AU-12"), pci("10.2.1"), iso("A.8.15")],
    validate=by_type({RDS: _rds_logs, CLOUD_SQL: _sql_logs}),
    applies_to=(RDS, CLOUD_SQL),
    remediation_steps="RDS: enabledCloudwatchLogsExports ['postgresql']. Cloud SQL: log_connections and "
                      "log_disconnections flags on. (Azure flexible server logs connections by default.)",
)

POLICIES = [NO_PUBLIC_ACCESS, ENCRYPTION, TLS_REQUIRED, BACKUPS, DELETION_PROTECTION, HIGH_AVAILABILITY,
            DATABASE_LOGGING]
