"""A Blob storage account and container for MLflow artifacts and model files: identity-only, private, encrypted,
versioned, protected.

What it gives: a StorageV2 account (zone-redundant by default) that refuses anonymous blob access and shared keys
(only Entra identities get in, so no account key or SAS can leak), takes HTTPS with TLS 1.2+ only, encrypts twice
(infrastructure encryption under the service encryption, with a customer-managed Key Vault key when
``customer_managed_key`` is on), and denies every network except the subnets it is given (the cluster's, through
its service endpoint). Blob versioning, blob and container soft delete, and a lifecycle rule that deletes replaced
versions after ``noncurrent_days``. One private container. A diagnostic setting sends every read, write and delete
to the stack's Log Analytics workspace. The account is protected and delete-locked, and none of its inputs depend
on tags, so a tag change never replaces it.

The account name is ``<name_prefix><8 random characters>``, within Azure's 3-24 lowercase letters and digits, the
suffix generated once and kept in the state (account names are global).

What it deliberately does not: grant anyone access. Workload access is ``mlops_platform.azure.workload_identity``,
scoped to the container.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.storage as storage
import pulumi_random as random
from pulumi import Input

from .key_vault import encryption_key
from .locks import delete_lock
from .roles import assign_role
from ..tagging import tagged_options
from ..validation import (
    ArgumentError,
    field_path,
    optional_bool,
    optional_int,
    optional_text,
    reject_unknown_keys,
    require_wired,
    required_text,
)

REDUNDANCIES = ("LRS", "ZRS", "GRS", "GZRS")
ACCESS_LOG_CATEGORIES = ("StorageRead", "StorageWrite", "StorageDelete")
BLOB_SUFFIX = "blob.core.windows.net"
_CONFIG_KEYS = frozenset({"name_prefix", "container_name", "redundancy", "customer_managed_key", "noncurrent_days",
                          "soft_delete_days", "access_logging"})
_WIRING_KEYS = frozenset({"resource_group_name", "location", "allowed_subnet_ids", "log_workspace_id"})


class ArtifactStoreArgs(TypedDict):
    """Inputs of an artifact store. Every field has a safe default unless it names the workload or the wiring."""

    name_prefix: str
    """Prefix of the account name: 3-16 lowercase letters and digits; 8 random characters follow."""
    resource_group_name: Input[str]
    location: str
    allowed_subnet_ids: Input[list[str]]
    """The only subnets that may reach the account (each with a ``Microsoft.Storage`` service endpoint)."""
    log_workspace_id: Input[str]
    """The Log Analytics workspace the access logs go to."""
    container_name: NotRequired[str]
    """The artifact container (default ``mlflow``; 3-63 lowercase letters, digits and single '-')."""
    redundancy: NotRequired[str]
    """``ZRS`` (default: three zones), ``LRS``, ``GRS`` or ``GZRS`` (geo-redundant)."""
    customer_managed_key: NotRequired[bool]
    """Encrypt with a rotating key in the account's own Key Vault instead of Microsoft's (default false)."""
    noncurrent_days: NotRequired[int]
    """Days a replaced or deleted blob version is kept (1-3650, default 30)."""
    soft_delete_days: NotRequired[int]
    """Days a deleted blob or container can be restored (1-365, default 14)."""
    access_logging: NotRequired[bool]
    """Reads, writes and deletes to the workspace (default true); false is an explicit opt-out."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class ArtifactStoreSettings:
    name_prefix: str
    container_name: str
    redundancy: str
    customer_managed_key: bool
    noncurrent_days: int
    soft_delete_days: int
    access_logging: bool
    resource_group_name: Any = None
    location: str | None = None
    allowed_subnet_ids: Any = None
    log_workspace_id: Any = None


def validate_artifact_store_args(args: Mapping[str, Any], field: str = "artifact_store", *,
                                 wiring: bool = True) -> ArtifactStoreSettings:
    """Check ``args`` and fill defaults; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS), field)
    redundancy = args.get("redundancy", "ZRS")
    if redundancy not in REDUNDANCIES:
        raise ArgumentError(f"{field_path(field, 'redundancy')}: {redundancy!r} is not allowed; use one of "
                            f"{', '.join(REDUNDANCIES)}")
    container = optional_text(args, "container_name", field, r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
                              "3 to 63 lowercase letters, digits and single '-', starting and ending with a letter "
                              "or digit") or "mlflow"
    return ArtifactStoreSettings(
        name_prefix=required_text(args, "name_prefix", field, r"[a-z0-9]{3,16}",
                                  "3 to 16 lowercase letters and digits (Azure adds 8 more)", plain=True),
        container_name=container,
        redundancy=redundancy,
        customer_managed_key=optional_bool(args, "customer_managed_key", field, False),
        noncurrent_days=optional_int(args, "noncurrent_days", field, 30, 1, 3650),
        soft_delete_days=optional_int(args, "soft_delete_days", field, 14, 1, 365),
        access_logging=optional_bool(args, "access_logging", field, True),
        resource_group_name=args.get("resource_group_name"),
        location=args.get("location"),
        allowed_subnet_ids=args.get("allowed_subnet_ids"),
        log_workspace_id=args.get("log_workspace_id"),
    )


def storage_account_prefix(name: str) -> str:
    """A legal account name prefix from a platform name: its letters and digits, at most 16."""
    return re.sub(r"[^a-z0-9]", "", name.lower())[:16]


def wasbs_uri(container: str, account: str) -> str:
    """The URI MLflow reads: ``wasbs://<container>@<account>.blob.core.windows.net``."""
    return f"wasbs://{container}@{account}.{BLOB_SUFFIX}"


class ArtifactStore(pulumi.ComponentResource):
    """A private, identity-only, encrypted, versioned storage account and container for MLflow artifacts."""

    name: pulumi.Output[str]
    """The container name."""
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    container_id: pulumi.Output[str]
    """ARM id of the container: the scope of every workload's role assignment."""
    uri: pulumi.Output[str]
    """``wasbs://<container>@<account>.blob.core.windows.net``: the MLflow artifact destination."""
    blob_endpoint: pulumi.Output[str]
    pod_env: pulumi.Output[dict[str, str]]
    """Environment a pod needs, besides its workload identity, to reach the account (none: the URI names it)."""

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_artifact_store_args(args)
        super().__init__("mlops:azure:ArtifactStore", name, None,
                         tagged_options(args.get("tags"), opts, "artifact_store.tags"))
        child = pulumi.ResourceOptions(parent=self)
        group, location = settings.resource_group_name, settings.location

        suffix = random.RandomString(f"{name}-account-suffix", length=8, special=False, upper=False, numeric=True,
                                     opts=child)
        identity, encryption = None, self._platform_key_encryption()
        depends_on: list[pulumi.Resource] = []
        if settings.customer_managed_key:
            identity, encryption, depends_on = self._customer_key_encryption(name, settings)

        account = storage.StorageAccount(
            f"{name}-account",
            resource_group_name=group,
            location=location,
            account_name=suffix.result.apply(lambda tail: f"{settings.name_prefix}{tail}"),
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=f"Standard_{settings.redundancy}"),
            access_tier=storage.AccessTier.HOT,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            allowed_copy_scope=storage.AllowedCopyScope.AAD,
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            is_local_user_enabled=False,
            is_sftp_enabled=False,
            public_network_access=storage.PublicNetworkAccess.ENABLED,  # filtered: only the listed subnets get in
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY,
                bypass=storage.Bypass.NONE,
                virtual_network_rules=pulumi.Output.from_input(settings.allowed_subnet_ids).apply(
                    lambda ids: [storage.VirtualNetworkRuleArgs(virtual_network_resource_id=subnet, action="Allow")
                                 for subnet in ids]),
            ),
            encryption=encryption,
            identity=identity,
            opts=child.merge(pulumi.ResourceOptions(protect=True, depends_on=depends_on)),
        )
        delete_lock(f"{name}-account", account.id, "Holds the MLflow artifacts and model files", parent=self)
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=group,
            account_name=account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=settings.soft_delete_days),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True,
                                                                                days=settings.soft_delete_days),
            opts=child,
        )
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            resource_group_name=group,
            account_name=account.name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(rules=[storage.ManagementPolicyRuleArgs(
                name="expire-noncurrent-versions",
                type=storage.RuleType.LIFECYCLE,
                enabled=True,
                definition=storage.ManagementPolicyDefinitionArgs(
                    filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                    actions=storage.ManagementPolicyActionArgs(
                        version=storage.ManagementPolicyVersionArgs(delete=storage.DateAfterCreationArgs(
                            days_after_creation_greater_than=settings.noncurrent_days)),
                    ),
                ),
            )]),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[blob_service])),
        )
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=group,
            account_name=account.name,
            container_name=settings.container_name,
            public_access=storage.PublicAccess.NONE,
            opts=child.merge(pulumi.ResourceOptions(depends_on=[blob_service])),
        )
        if settings.access_logging:
            monitor.DiagnosticSetting(
                f"{name}-access-logs",
                resource_uri=account.id.apply(lambda account_id: f"{account_id}/blobServices/default"),
                workspace_id=settings.log_workspace_id,
                log_analytics_destination_type="Dedicated",
                logs=[monitor.DiagnosticsLogSettingsArgs(category=category, enabled=True)
                      for category in ACCESS_LOG_CATEGORIES],
                opts=child.merge(pulumi.ResourceOptions(depends_on=[blob_service])),
            )

        self.name = container.name
        self.account_name = account.name
        self.account_id = account.id
        self.container_id = container.id
        self.uri = pulumi.Output.all(container.name, account.name).apply(lambda names: wasbs_uri(*names))
        self.blob_endpoint = account.primary_endpoints.apply(lambda endpoints: endpoints.blob)
        self.pod_env = pulumi.Output.from_input({})
        self.register_outputs({"name": self.name, "account_name": self.account_name, "account_id": self.account_id,
                               "container_id": self.container_id, "uri": self.uri,
                               "blob_endpoint": self.blob_endpoint, "pod_env": self.pod_env})

    @staticmethod
    def _platform_key_encryption() -> "storage.EncryptionArgs":
        return storage.EncryptionArgs(
            key_source=storage.KeySource.MICROSOFT_STORAGE,
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
                file=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
            ),
        )

    def _customer_key_encryption(self, name: str, settings: ArtifactStoreSettings) -> (
            "tuple[storage.IdentityArgs, storage.EncryptionArgs, list[pulumi.Resource]]"):
        """A key of the account's own, and the identity the account unwraps its data keys with."""
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        key = encryption_key(f"{name}-cmk", purpose="artifacts", vault_name_prefix=f"{settings.name_prefix[:10]}-cmk-",
                             resource_group_name=settings.resource_group_name, location=settings.location,
                             tenant_id=client.tenant_id, parent=self)
        identity = managedidentity.UserAssignedIdentity(f"{name}-encryption-identity",
                                                        resource_group_name=settings.resource_group_name,
                                                        location=settings.location,
                                                        opts=pulumi.ResourceOptions(parent=self))
        grant = assign_role(f"{name}-encryption-key", role="Key Vault Crypto Service Encryption User",
                            scope=key.key.id, principal_id=identity.principal_id,
                            subscription_id=client.subscription_id, parent=self)
        encryption = storage.EncryptionArgs(
            key_source=storage.KeySource.MICROSOFT_KEYVAULT,
            key_vault_properties=storage.KeyVaultPropertiesArgs(key_name=key.key.name, key_vault_uri=key.vault_uri),
            encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=identity.id),
            require_infrastructure_encryption=True,
            services=storage.EncryptionServicesArgs(
                blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
                file=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
            ),
        )
        return (storage.IdentityArgs(type=storage.IdentityType.USER_ASSIGNED, user_assigned_identities=[identity.id]),
                encryption, [grant])
