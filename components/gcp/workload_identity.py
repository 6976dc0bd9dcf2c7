"""GKE Workload Identity: a Google service account for exactly one Kubernetes ServiceAccount, no keys.

What it gives: a Google service account whose only way in is ``roles/iam.workloadIdentityUser`` for the single
member ``serviceAccount:<project>.svc.id.goog[<namespace>/<name>]``; object access on one bucket (read and write
with ``roles/storage.objectUser``, or read-only with ``roles/storage.objectViewer``), narrowed by an IAM condition to
one object prefix when the workload needs less than the whole bucket; and, only for a workload that signs in to the
platform's Cloud SQL instance, ``roles/cloudsql.client`` and ``roles/cloudsql.instanceUser`` on the project,
conditioned to that one instance, and the Cloud SQL IAM user of the account (a ``cloudsqlsuperuser`` member only
for the bootstrap Job's admin). The output is the annotation to put on the ServiceAccount.

A customer-managed bucket key needs no grant here: GCS's own service agent encrypts and decrypts with it.

What it deliberately does not: create a key for the account, grant any bucket-configuration or IAM permission, or
grant anything on other buckets.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
from pulumi import Input

from .account_ids import ACCOUNT_ID_PATTERN, iam_user_name
from ..service_account_binding import validate_service_account_binding
from ..tagging import tagged_options
from ..validation import (
    OBJECT_KEY_PREFIX,
    ArgumentError,
    field_path,
    optional_bool,
    reject_unknown_keys,
)

SERVICE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
READ_WRITE_ROLE = "roles/storage.objectUser"
"""Get, list, create, replace and delete objects and multipart uploads; no IAM or bucket settings."""
READ_ONLY_ROLE = "roles/storage.objectViewer"
DATABASE_ROLES = ("roles/cloudsql.client", "roles/cloudsql.instanceUser")
"""Connect through the Cloud SQL Auth Proxy, and sign in as an IAM database user."""
LIST_PREFIX_ATTRIBUTE = "storage.googleapis.com/objectListPrefix"
SUPERUSER_ROLE = "cloudsqlsuperuser"
_ARGS = frozenset({"workload_pool", "namespace", "service_account", "account_id", "project", "bucket", "prefix",
                   "read_only", "database_instance", "database_superuser", "tags"})


class WorkloadIdentityArgs(TypedDict):
    """Inputs of a workload identity: which ServiceAccount, and which bucket (and prefix) it may use."""

    workload_pool: Input[str]
    """The cluster's Workload Identity pool, ``<project>.svc.id.goog``."""
    namespace: str
    """The ServiceAccount's namespace (a DNS label)."""
    service_account: str
    """The ServiceAccount's name (a DNS subdomain, at most 253 characters)."""
    account_id: str
    """The Google service account's id: 6-30 lowercase letters, digits and '-' (``mlops_platform.gcp.account_ids``)."""
    project: Input[str]
    """The project of the service account, the bucket and the database."""
    bucket: NotRequired[Input[str]]
    """The artifact bucket's name; the workload may use no other. Absent: no storage access (the database admin)."""
    prefix: NotRequired[str]
    """Object prefix the workload is confined to, ending in '/' (default: the whole bucket)."""
    read_only: NotRequired[bool]
    """Read and list only (a model endpoint); default false (MLflow writes artifacts)."""
    database_instance: NotRequired[Input[str]]
    """A Cloud SQL instance name: the account becomes an IAM database user of it (``<email without
    .gserviceaccount.com>``) and may connect to it, and to no other instance."""
    database_superuser: NotRequired[bool]
    """With ``database_instance``: the IAM user is a member of ``cloudsqlsuperuser`` (the bootstrap Job's admin
    only; default false)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class WorkloadIdentitySettings:
    workload_pool: Any
    namespace: str
    service_account: str
    account_id: str
    project: Any
    bucket: Any
    prefix: str
    read_only: bool
    database_instance: Any
    database_superuser: bool


def validate_workload_identity_args(args: Mapping[str, Any], field: str = "workload_identity") -> WorkloadIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    for key in ("workload_pool", "project"):
        if args.get(key) is None:
            raise ArgumentError(f"{field_path(field, key)}: missing; it is required")
    pool = args["workload_pool"]
    if isinstance(pool, str) and not pool.endswith(".svc.id.goog"):
        raise ArgumentError(f"{field_path(field, 'workload_pool')}: {pool!r} is not allowed; use the cluster's "
                            f"Workload Identity pool, <project>.svc.id.goog")
    namespace, account = validate_service_account_binding(args, field)
    google_account = args.get("account_id")
    if not isinstance(google_account, str) or not re.fullmatch(ACCOUNT_ID_PATTERN, google_account):
        raise ArgumentError(f"{field_path(field, 'account_id')}: {google_account!r} is not allowed; use 6 to 30 "
                            f"lowercase letters, digits and '-', starting with a letter and not ending with '-'")
    prefix = args.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and not re.fullmatch(OBJECT_KEY_PREFIX, prefix)):
        raise ArgumentError(f"{field_path(field, 'prefix')}: {prefix!r} is not allowed; use an object prefix ending "
                            f"in '/' such as models/ (letters, digits, !_.'()-, no wildcards), or leave it out for "
                            f"the whole bucket")
    return WorkloadIdentitySettings(
        workload_pool=pool,
        namespace=namespace,
        service_account=account,
        account_id=google_account,
        project=args["project"],
        bucket=args.get("bucket"),
        prefix=prefix,
        read_only=optional_bool(args, "read_only", field, False),
        database_instance=args.get("database_instance"),
        database_superuser=_database_superuser(args, field),
    )


def _database_superuser(args: Mapping[str, Any], field: str) -> bool:
    superuser = optional_bool(args, "database_superuser", field, False)
    if superuser and args.get("database_instance") is None:
        raise ArgumentError(f"{field_path(field, 'database_superuser')}: True is not allowed without "
                            f"database_instance; it makes the account an admin of that instance")
    return superuser


def workload_identity_member(pool: str, namespace: str, service_account: str) -> str:
    """The IAM member of one Kubernetes ServiceAccount of a GKE Workload Identity pool."""
    return f"serviceAccount:{pool}[{namespace}/{service_account}]"


def object_prefix_condition(bucket: str, prefix: str) -> str:
    """A CEL condition that admits objects under ``prefix`` of ``bucket`` and listings of that prefix only."""
    return (f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
            f'api.getAttribute("{LIST_PREFIX_ATTRIBUTE}", "").startsWith("{prefix}")')


def database_instance_condition(project: str, instance: str) -> str:
    """A CEL condition that admits one Cloud SQL instance of ``project`` and no other."""
    return (f'resource.service == "sqladmin.googleapis.com" && '
            f'resource.name == "projects/{project}/instances/{instance}"')


class WorkloadIdentity(pulumi.ComponentResource):
    """A Google service account for one Kubernetes ServiceAccount, with access to its own bucket (prefix) only."""

    email: pulumi.Output[str]
    member: pulumi.Output[str]
    """``serviceAccount:<email>``."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """``{"iam.gke.io/gcp-service-account": <email>}``: put it on the ServiceAccount."""
    service_account_labels: pulumi.Output[dict[str, str]]
    """Empty on GKE (Workload Identity needs no label); present for the contract."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_workload_identity_args(args)
        super().__init__("mlops:gcp:WorkloadIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "workload_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        subject = f"{settings.namespace}/{settings.service_account}"
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            account_id=settings.account_id,
            project=settings.project,
            display_name=f"Workload Identity of {subject}"[:100],
            description=f"Kubernetes ServiceAccount {subject} only; no keys",
            opts=child,
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=pulumi.Output.from_input(settings.workload_pool).apply(
                lambda pool: workload_identity_member(pool, settings.namespace, settings.service_account)),
            opts=child,
        )
        condition = None
        if settings.prefix and settings.bucket is not None:
            condition = gcp.storage.BucketIAMMemberConditionArgs(
                title=f"objects under {settings.prefix}"[:100],
                description="Objects under one prefix, and listings of that prefix",
                expression=pulumi.Output.from_input(settings.bucket).apply(
                    lambda bucket: object_prefix_condition(bucket, settings.prefix)),
            )
        if settings.bucket is not None:
            gcp.storage.BucketIAMMember(
                f"{name}-artifacts",
                bucket=settings.bucket,
                role=READ_ONLY_ROLE if settings.read_only else READ_WRITE_ROLE,
                member=account.member,
                condition=condition,
                opts=child,
            )
        ready: list[pulumi.Output[Any]] = []
        if settings.database_instance is not None:
            expression = pulumi.Output.all(settings.project, settings.database_instance).apply(
                lambda values: database_instance_condition(values[0], values[1]))
            for role in DATABASE_ROLES:
                gcp.projects.IAMMember(
                    f"{name}-{role.split('.')[-1].lower()}",
                    project=settings.project,
                    role=role,
                    member=account.member,
                    condition=gcp.projects.IAMMemberConditionArgs(
                        title="the platform's Cloud SQL instance only", expression=expression),
                    opts=child,
                )
            user = gcp.sql.User(
                f"{name}-database-user",
                instance=settings.database_instance,
                project=settings.project,
                name=account.email.apply(iam_user_name),
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                database_roles=[SUPERUSER_ROLE] if settings.database_superuser else None,
                opts=child,
            )
            ready.append(user.name)
        self.email = account.email
        self.member = account.member
        # Pods that carry the annotation start only once their database user exists.
        self.service_account_annotations = pulumi.Output.all(account.email, *ready).apply(
            lambda values: {SERVICE_ACCOUNT_ANNOTATION: values[0]})
        self.service_account_labels = pulumi.Output.from_input({})
        self.register_outputs({"email": self.email, "member": self.member,
                               "service_account_annotations": self.service_account_annotations,
                               "service_account_labels": self.service_account_labels})
