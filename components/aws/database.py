"""An RDS PostgreSQL instance for MLflow's tracking store and model registry, reachable only from the cluster.

What it gives: an instance in private subnets with a security group that admits PostgreSQL from one client
security group only (the cluster's); storage, Performance Insights and the master secret encrypted with a
customer-managed KMS key; TLS forced through a parameter group; automated backups (7 to 35 days), deletion
protection and a final snapshot; Multi-AZ unless explicitly turned off; enhanced monitoring; log exports; IAM
database authentication; and a master password that RDS generates, rotates and keeps in Secrets Manager, so no
password is ever written in a stack file, in the state, or anywhere at deployment time.

Nobody signs in with a password known at deployment: MLflow signs in as its own role (``mlflow_username``) with
15-minute RDS IAM tokens (``mlflow_user_arn`` is the one ``rds-db:connect`` resource), and the bootstrap Job that
creates that role reads the master secret (``master_secret_arn``, encrypted with ``key_arn``) at run time, so a
rotation of the master password never matters.

What it deliberately does not: create the MLflow role, its schema or grants (the Kubernetes layer's bootstrap Job
does, as the master user), or allow a public endpoint.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
from pulumi import Input

from . import iam_documents
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_bool, optional_int, reject_unknown_keys, require_wired

ENGINE_VERSIONS = ("16", "17")
"""PostgreSQL major versions offered (RDS standard support); the major picks the parameter group family. Only the
major is pinned: RDS applies minor upgrades itself (``auto_minor_version_upgrade``) and reports the running minor as
``engine_version_actual``, so a preview after AWS upgrades the instance shows no downgrade."""
DEFAULT_ENGINE_VERSION = "17"
PORT = 5432
_CONFIG_KEYS = frozenset({"identifier", "engine_version", "instance_class", "allocated_storage_gib",
                          "max_allocated_storage_gib", "multi_az", "backup_retention_days", "database_name",
                          "username", "mlflow_username", "performance_insights_retention_days"})
_WIRING_KEYS = frozenset({"vpc_id", "subnet_ids", "client_security_group_id"})
_IDENTIFIER = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"


class DatabaseArgs(TypedDict):
    """Inputs of a database. The identifier and the network wiring are required; the rest have safe defaults."""

    identifier: str
    """The RDS instance identifier (fixed for the instance's life; 1-55 lowercase letters, digits, single '-')."""
    vpc_id: Input[str]
    subnet_ids: Input[list[str]]
    """Private subnets in at least two zones."""
    client_security_group_id: Input[str]
    """The one security group whose members may connect (the cluster's)."""
    engine_version: NotRequired[str]
    """A PostgreSQL major version, one of ``ENGINE_VERSIONS`` (default ``DEFAULT_ENGINE_VERSION``); AWS owns the minor
    version and applies its upgrades in the maintenance window."""
    instance_class: NotRequired[str]
    """An RDS instance class (default db.t4g.medium)."""
    allocated_storage_gib: NotRequired[int]
    """Initial gp3 storage, 20-65536 GiB (default 20); grows automatically up to ``max_allocated_storage_gib``."""
    max_allocated_storage_gib: NotRequired[int]
    """Storage autoscaling ceiling (default 100)."""
    multi_az: NotRequired[bool]
    """A standby in another zone (default true; turning it off is a cost opt-out for development)."""
    backup_retention_days: NotRequired[int]
    """Days automated backups are kept, 7-35 (default 7)."""
    database_name: NotRequired[str]
    """The database MLflow uses (default ``mlflow``)."""
    username: NotRequired[str]
    """The master user (default ``mlflow``); only the bootstrap Job signs in as it, with the RDS-managed secret."""
    mlflow_username: NotRequired[str]
    """The role MLflow signs in as with RDS IAM tokens (default ``mlflow_tracking``; not the master user)."""
    performance_insights_retention_days: NotRequired[int]
    """7 (free tier) or a multiple of 31 up to 731 (default 7)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class DatabaseSettings:
    identifier: str
    engine_version: str
    instance_class: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    backup_retention_days: int
    database_name: str
    username: str
    mlflow_username: str
    performance_insights_retention_days: int
    vpc_id: Any = None
    subnet_ids: Any = None
    client_security_group_id: Any = None


def validate_database_args(args: Mapping[str, Any], field: str = "database", *, wiring: bool = True) -> DatabaseSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS), field)
    identifier = args.get("identifier")
    if not isinstance(identifier, str) or len(identifier) > 55 or not re.fullmatch(_IDENTIFIER, identifier):
        raise ArgumentError(
            f"{field_path(field, 'identifier')}: {identifier!r} is not allowed; use 1 to 55 lowercase letters, digits "
            f"and single hyphens, starting with a letter"
        )
    version = args.get("engine_version", DEFAULT_ENGINE_VERSION)
    if version not in ENGINE_VERSIONS:
        hint = (" (the major version only: AWS applies minor upgrades, and a pinned minor would show as a downgrade "
                "once it does)") if isinstance(version, str) and version.split(".")[0] in ENGINE_VERSIONS else ""
        raise ArgumentError(f"{field_path(field, 'engine_version')}: {version!r} is not allowed; use one of "
                            f"{', '.join(ENGINE_VERSIONS)} (quoted, as a string){hint}")
    instance_class = args.get("instance_class", "db.t4g.medium")
    if not isinstance(instance_class, str) or not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", instance_class):
        raise ArgumentError(f"{field_path(field, 'instance_class')}: {instance_class!r} is not allowed; use an RDS "
                            f"instance class such as db.t4g.medium or db.m7g.large")
    allocated = optional_int(args, "allocated_storage_gib", field, 20, 20, 65536)
    ceiling = optional_int(args, "max_allocated_storage_gib", field, max(100, allocated), allocated, 65536)
    insights = optional_int(args, "performance_insights_retention_days", field, 7, 7, 731)
    if insights != 7 and insights % 31:
        raise ArgumentError(f"{field_path(field, 'performance_insights_retention_days')}: {insights} is not allowed; "
                            f"use 7 or a multiple of 31 up to 731")
    names = {}
    for key, default in (("database_name", "mlflow"), ("username", "mlflow"), ("mlflow_username", "mlflow_tracking")):
        value = args.get(key, default)
        if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", value) or value in ("postgres",
                                                                                                        "rdsadmin"):
            raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use 1 to 63 lowercase letters, "
                                f"digits or '_', starting with a letter (not postgres or rdsadmin)")
        names[key] = value
    if names["mlflow_username"] == names["username"]:
        raise ArgumentError(f"{field_path(field, 'mlflow_username')}: {names['mlflow_username']!r} is not allowed; "
                            f"use a role name other than the master user's ({names['username']!r})")
    return DatabaseSettings(
        identifier=identifier,
        engine_version=version,
        instance_class=instance_class,
        allocated_storage_gib=allocated,
        max_allocated_storage_gib=ceiling,
        multi_az=optional_bool(args, "multi_az", field, True),
        backup_retention_days=optional_int(args, "backup_retention_days", field, 7, 7, 35),
        database_name=names["database_name"],
        username=names["username"],
        mlflow_username=names["mlflow_username"],
        performance_insights_retention_days=insights,
        vpc_id=args.get("vpc_id"),
        subnet_ids=args.get("subnet_ids"),
        client_security_group_id=args.get("client_security_group_id"),
    )


def db_user_arn(partition: str, region: str, account_id: str, resource_id: str, username: str) -> str:
    """The ``rds-db:connect`` resource of one database user: ``arn:aws:rds-db:<region>:<account>:dbuser:<dbi resource
    id>/<user>``."""
    return f"arn:{partition}:rds-db:{region}:{account_id}:dbuser:{resource_id}/{username}"


class Database(pulumi.ComponentResource):
    """A private, encrypted, TLS-only, backed-up PostgreSQL for MLflow."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    """The master user."""
    mlflow_username: pulumi.Output[str]
    """MLflow's own role (IAM authentication)."""
    mlflow_user_arn: pulumi.Output[str]
    """The ``rds-db:connect`` resource of ``mlflow_username``."""
    master_secret_arn: pulumi.Output[str]
    """The Secrets Manager secret RDS keeps (and rotates) the master credentials in."""
    key_arn: pulumi.Output[str]
    """The KMS key of the storage and of the master secret."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_database_args(args)
        super().__init__("mlops:aws:Database", name, None, tagged_options(args.get("tags"), opts, "database.tags"))
        child = pulumi.ResourceOptions(parent=self)
        stateful = child.merge(pulumi.ResourceOptions(protect=True))
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account_id = aws.get_caller_identity_output(opts=invoke).account_id

        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        key = aws.kms.Key(f"{name}-key", description=f"Encrypts the {settings.identifier} database, its backups, "
                                                    f"Performance Insights and master secret",
                          enable_key_rotation=True, deletion_window_in_days=30,
                          policy=pulumi.Output.all(account, partition, region).apply(
                              lambda values: iam_documents.service_key_policy(
                                  values[0], values[1], [f"rds.{values[2]}.amazonaws.com",
                                                         f"secretsmanager.{values[2]}.amazonaws.com"])),
                          opts=stateful)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=settings.subnet_ids,
                                      description=f"Private subnets of {settings.identifier}", opts=child)
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=settings.vpc_id,
            description=f"PostgreSQL clients of {settings.identifier}: the cluster only",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-cluster",
            security_group_id=security_group.id,
            referenced_security_group_id=settings.client_security_group_id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            description="PostgreSQL from the cluster's nodes and pods",
            opts=child,
        )
        major = settings.engine_version.split(".")[0]
        parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{major}",
            description=f"TLS-only PostgreSQL {major} with connection logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="ssl_min_protocol_version", value="TLSv1.2"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="1000"),
            ],
            opts=child,
        )
        monitoring = aws.iam.Role(f"{name}-monitoring",
                                  assume_role_policy=iam_documents.service_trust_policy("monitoring.rds.amazonaws.com"),
                                  opts=child)
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring", role=monitoring.name,
            policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
            opts=child,
        )
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=settings.identifier,
            engine="postgres",
            engine_version=settings.engine_version,
            auto_minor_version_upgrade=True,
            instance_class=settings.instance_class,
            allocated_storage=settings.allocated_storage_gib,
            max_allocated_storage=settings.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=settings.database_name,
            username=settings.username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            publicly_accessible=False,
            port=PORT,
            parameter_group_name=parameters.name,
            multi_az=settings.multi_az,
            backup_retention_period=settings.backup_retention_days,
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{settings.identifier}-final",
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            performance_insights_retention_period=settings.performance_insights_retention_days,
            monitoring_interval=60,
            monitoring_role_arn=monitoring.arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            ca_cert_identifier="rds-ca-rsa2048-g1",
            apply_immediately=False,
            opts=stateful.merge(pulumi.ResourceOptions(depends_on=[monitoring_policy])),
        )

        self.host = instance.address
        self.port = instance.port
        self.database = pulumi.Output.from_input(settings.database_name)
        self.username = pulumi.Output.from_input(settings.username)
        self.mlflow_username = pulumi.Output.from_input(settings.mlflow_username)
        self.mlflow_user_arn = pulumi.Output.all(partition, region, account_id, instance.resource_id).apply(
            lambda values: db_user_arn(*values, settings.mlflow_username))
        self.master_secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.key_arn = key.arn
        self.register_outputs({"host": self.host, "port": self.port, "database": self.database,
                               "username": self.username, "mlflow_username": self.mlflow_username,
                               "mlflow_user_arn": self.mlflow_user_arn, "master_secret_arn": self.master_secret_arn,
                               "key_arn": self.key_arn})
