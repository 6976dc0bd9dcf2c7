"""Keyless Google Cloud credentials for the repository's GitHub Actions workflows: applied once, by hand, per project.

What it gives: a workload identity pool with a GitHub provider (issuer ``token.actions.githubusercontent.com``) whose
attribute condition admits tokens of one repository only (``assertion.repository``, and its numeric id when
given), and only for its pull requests or its deploy branch; and two service accounts that a token can impersonate
only for exact subjects (``mlops_platform.github_oidc``):

- the preview account, for ``repo:<owner>/<repo>:pull_request``: predefined viewer roles (no basic role), and
  ``roles/storage.objectUser`` on the state bucket only (a preview writes the backend's lock objects);
- the deploy account, for the deploy branch and the deploy environment: the predefined admin roles of what the
  platform creates, and ``objectAdmin`` on the state bucket.

What it deliberately does not: admit another repository or a fork, trust an attribute pattern, create a
service-account key, or grant a basic role (Owner, Editor, Viewer). The provider's name and the accounts' emails go
into the repository's variables (``GCP_WORKLOAD_IDENTITY_PROVIDER``, ``GCP_PREVIEW_SERVICE_ACCOUNT``,
``GCP_DEPLOY_SERVICE_ACCOUNT``).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from ..github_oidc import ISSUER, GitHubTrust, validate_github_trust
from ..tagging import tagged_options, validated_tags
from ..validation import ArgumentError, field_path, optional_text, reject_unknown_keys

DEFAULT_PREVIEW_ROLES = ("roles/compute.viewer", "roles/container.viewer", "roles/cloudsql.viewer",
                         "roles/iam.securityReviewer", "roles/cloudkms.viewer", "roles/serviceusage.serviceUsageViewer")
DEFAULT_DEPLOY_ROLES = ("roles/compute.networkAdmin", "roles/compute.securityAdmin", "roles/container.admin",
                        "roles/cloudsql.admin", "roles/storage.admin", "roles/cloudkms.admin",
                        "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser",
                        "roles/resourcemanager.projectIamAdmin", "roles/serviceusage.serviceUsageAdmin")
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
_POOL_ID = r"[a-z0-9-]{4,32}"
_ROLE = r"roles/[A-Za-z0-9_.]+|projects/[a-z0-9-]+/roles/[A-Za-z0-9_.]+"
_BUCKET = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
_CRYPTO_KEY = r"projects/[a-z0-9-]+/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+"
_ARGS = frozenset({"project", "repository", "repository_id", "deploy_branch", "deploy_environment", "pool_id",
                   "preview_roles", "deploy_roles", "state_bucket", "secrets_key", "tags"})


class CiIdentityArgs(TypedDict):
    """Inputs of the GitHub Actions identities of one repository in one Google Cloud project."""

    project: str
    """The project the pool, the service accounts and their roles live in."""
    repository: str
    """The GitHub repository, ``owner/name``; no other repository can use the identities."""
    repository_id: NotRequired[str]
    """The repository's numeric id (``gh api repos/OWNER/NAME --jq .id``): also checked, so a repository deleted and
    re-created under the same name by someone else is not admitted."""
    deploy_branch: NotRequired[str]
    """The branch whose pushes deploy (default ``main``)."""
    deploy_environment: NotRequired[str]
    """The GitHub environment production deployments run in (default ``production``)."""
    pool_id: NotRequired[str]
    """The workload identity pool's id (default ``github-actions``); 4-32 lowercase letters, digits, '-'."""
    preview_roles: NotRequired[list[str]]
    """Project roles of the preview account (default: predefined viewer roles)."""
    deploy_roles: NotRequired[list[str]]
    """Project roles of the deploy account (default: the admin roles of what the platform creates)."""
    state_bucket: NotRequired[str]
    """The GCS bucket of a self-managed Pulumi backend, when the stacks keep their state there."""
    secrets_key: NotRequired[str]
    """The Cloud KMS key of the ``gcpkms://`` secrets provider (``projects/.../cryptoKeys/NAME``)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags, checked by the canonical rules; none of the resources created here (pool, provider, service
    accounts, IAM members) takes labels, so there is nothing to label."""


@dataclass(frozen=True)
class CiIdentitySettings:
    project: str
    trust: GitHubTrust
    repository_id: str | None
    pool_id: str
    preview_roles: tuple[str, ...]
    deploy_roles: tuple[str, ...]
    state_bucket: str | None
    secrets_key: str | None


def attribute_condition(trust: GitHubTrust, repository_id: str | None) -> str:
    """The provider's CEL condition: one repository (and its id), pull requests or the deploy branch."""
    clauses = [f"assertion.repository == {json.dumps(trust.repository)}"]
    if repository_id:
        clauses.append(f"assertion.repository_id == {json.dumps(repository_id)}")
    clauses.append(f"(assertion.event_name == \"pull_request\" || "
                   f"assertion.ref == {json.dumps('refs/heads/' + trust.deploy_branch)})")
    return " && ".join(clauses)


ATTRIBUTE_MAPPING = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
                     "attribute.repository_id": "assertion.repository_id", "attribute.ref": "assertion.ref",
                     "attribute.event_name": "assertion.event_name"}
"""Token claims the pool keeps; ``google.subject`` is what the service-account bindings name exactly."""


def validate_ci_identity_args(args: Mapping[str, Any], field: str = "ci_identity") -> CiIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    project = args.get("project")
    if not isinstance(project, str) or not re.fullmatch(_PROJECT, project):
        raise ArgumentError(f"{field_path(field, 'project')}: {project!r} is not allowed; use a Google Cloud project "
                            f"id (6-30 lowercase letters, digits and '-', starting with a letter)")
    trust = validate_github_trust(args, field)
    repository_id = optional_text(args, "repository_id", field, r"[1-9][0-9]{0,19}",
                                  "the repository's numeric id as a string, such as \"123456789\"")
    pool_id = optional_text(args, "pool_id", field, _POOL_ID, "4-32 lowercase letters, digits and '-'")
    if "tags" in args:
        validated_tags(args["tags"], field_path(field, "tags"))
    return CiIdentitySettings(
        project=project, trust=trust, repository_id=repository_id, pool_id=pool_id or "github-actions",
        preview_roles=_roles(args, "preview_roles", field, DEFAULT_PREVIEW_ROLES),
        deploy_roles=_roles(args, "deploy_roles", field, DEFAULT_DEPLOY_ROLES),
        state_bucket=optional_text(args, "state_bucket", field, _BUCKET, "a GCS bucket name"),
        secrets_key=optional_text(args, "secrets_key", field, _CRYPTO_KEY,
                                  "a Cloud KMS key name projects/P/locations/L/keyRings/R/cryptoKeys/K"),
    )


class CiIdentity(pulumi.ComponentResource):
    """A workload identity pool for one repository's GitHub Actions, and its preview and deploy service accounts."""

    workload_identity_provider: pulumi.Output[str]
    """For ``GCP_WORKLOAD_IDENTITY_PROVIDER``: ``projects/<number>/locations/global/workloadIdentityPools/...``."""
    preview_service_account: pulumi.Output[str]
    """For ``GCP_PREVIEW_SERVICE_ACCOUNT``: pull requests of the repository."""
    deploy_service_account: pulumi.Output[str]
    """For ``GCP_DEPLOY_SERVICE_ACCOUNT``: the deploy branch and the deploy environment."""

    def __init__(self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_ci_identity_args(args)
        super().__init__("mlops:gcp:CiIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "ci_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool", project=settings.project, workload_identity_pool_id=settings.pool_id,
            display_name="GitHub Actions", description=f"GitHub Actions of {settings.trust.repository}",
            opts=child.merge(pulumi.ResourceOptions(protect=True)))
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-github", project=settings.project, workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github", display_name="GitHub",
            attribute_mapping=ATTRIBUTE_MAPPING,
            attribute_condition=attribute_condition(settings.trust, settings.repository_id),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=ISSUER),
            opts=child)
        emails = {}
        for role_name, subjects, roles, bucket_role, key_role in (
                ("preview", settings.trust.preview_subjects, settings.preview_roles, "roles/storage.objectUser",
                 "roles/cloudkms.cryptoKeyDecrypter"),
                ("deploy", settings.trust.deploy_subjects, settings.deploy_roles, "roles/storage.objectAdmin",
                 "roles/cloudkms.cryptoKeyEncrypterDecrypter")):
            account = gcp.serviceaccount.Account(
                f"{name}-{role_name}", project=settings.project, account_id=f"github-{role_name}",
                display_name=f"GitHub Actions {role_name}",
                description=f"GitHub Actions {role_name} of {settings.trust.repository}", opts=child)
            for index, subject in enumerate(subjects):
                gcp.serviceaccount.IAMMember(
                    f"{name}-{role_name}-federation-{index}", service_account_id=account.name,
                    role="roles/iam.workloadIdentityUser",
                    member=pool.name.apply(lambda pool_name, subject=subject:
                                           f"principal://iam.googleapis.com/{pool_name}/subject/{subject}"),
                    opts=child)
            member = account.email.apply(lambda email: f"serviceAccount:{email}")
            for role in roles:
                gcp.projects.IAMMember(f"{name}-{role_name}-{role.rsplit('/', 1)[-1]}", project=settings.project,
                                       role=role, member=member, opts=child)
            if settings.state_bucket:
                gcp.storage.BucketIAMMember(f"{name}-{role_name}-state", bucket=settings.state_bucket,
                                            role=bucket_role, member=member, opts=child)
            if settings.secrets_key:
                gcp.kms.CryptoKeyIAMMember(f"{name}-{role_name}-secrets", crypto_key_id=settings.secrets_key,
                                           role=key_role, member=member, opts=child)
            emails[role_name] = account.email
        self.workload_identity_provider = provider.name
        self.preview_service_account = emails["preview"]
        self.deploy_service_account = emails["deploy"]
        self.register_outputs({"workload_identity_provider": self.workload_identity_provider,
                               "preview_service_account": self.preview_service_account,
                               "deploy_service_account": self.deploy_service_account})


def _roles(args: Mapping[str, Any], key: str, field: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = args.get(key, list(default))
    if not isinstance(value, list) or not value:
        raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use a non-empty list of roles")
    for index, role in enumerate(value):
        if not isinstance(role, str) or not re.fullmatch(_ROLE, role) or role in BASIC_ROLES:
            raise ArgumentError(f"{field_path(field, key)}[{index}]: {role!r} is not allowed; use a predefined or "
                                f"custom role such as roles/container.viewer (not a basic role: "
                                f"{', '.join(BASIC_ROLES)})")
    return tuple(value)
