"""Which resources hold state a reviewer must not lose, and which of their inputs make the provider replace them.

Where the list comes from. Pulumi's engine learns that an input forces a replacement from the provider plugin's
``Diff`` answer, not from the language SDK: pulumi-aws and pulumi-gcp are bridged from the Terraform providers, whose
``ForceNew`` flags live in the provider binary; pulumi-azure-native and pulumi-kubernetes decide in their own plugin
code. The Python wheels the project pins (pulumi-aws 7.51, pulumi-gcp 10.2, pulumi-azure-native 3.29,
pulumi-kubernetes 4.34) ship only ``pulumi-plugin.json`` (name, version) and generated classes; none of their
resource classes sets a ``replace_on_changes`` option and no schema file is in them. So the inputs below are a kept
table, written from the providers' documented schemas:

- AWS and GCP: the ``ForceNew: true`` attributes of the Terraform resources (``aws_eks_cluster``,
  ``aws_db_instance``, ``aws_s3_bucket``, ``aws_kms_key``, ``google_container_cluster``,
  ``google_sql_database_instance``, ``google_storage_bucket``, ``google_kms_key_ring``, ``google_kms_crypto_key``),
  as the Pulumi registry's API docs mark them ("Changing this forces a new resource").
- Azure Native: the resource's path parameters (its name and resource group) and ``location``, which the provider
  replaces on because the Azure Resource Manager id contains them.

How it is kept current: ``tests/unit/test_plan_diff.py`` fails when a type here is not a resource the pinned SDK
defines, or when an input path's first key is not an argument of that resource's ``...Args`` class, so a provider
upgrade that renames or drops an input shows at once; on each provider upgrade, compare the table with the
provider's changelog ("force new", "replacement") and the registry docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

STATEFUL_KINDS: Mapping[str, str] = MappingProxyType({
    "aws:eks/cluster:Cluster": "cluster",
    "aws:rds/instance:Instance": "database",
    "aws:s3/bucket:Bucket": "bucket",
    "aws:kms/key:Key": "key",
    "gcp:container/cluster:Cluster": "cluster",
    "gcp:sql/databaseInstance:DatabaseInstance": "database",
    "gcp:storage/bucket:Bucket": "bucket",
    "gcp:kms/keyRing:KeyRing": "key",
    "gcp:kms/cryptoKey:CryptoKey": "key",
    "azure-native:containerservice:ManagedCluster": "cluster",
    "azure-native:dbforpostgresql:Server": "database",
    "azure-native:storage:StorageAccount": "bucket",
    "azure-native:storage:BlobContainer": "bucket",
    "azure-native:keyvault:Vault": "vault",
    "azure-native:keyvault:Key": "key",
    "azure-native:resources:ResourceGroup": "resource group",
})
"""Type token -> what kind of state it holds. Any resource with ``protect`` set counts as stateful too."""

REPLACED_ON: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "aws:eks/cluster:Cluster": (
        "name", "roleArn", "vpcConfig.subnetIds", "vpcConfig.securityGroupIds", "encryptionConfig",
        "kubernetesNetworkConfig", "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "bootstrapSelfManagedAddons", "outpostConfig"),
    "aws:rds/instance:Instance": (
        "identifier", "identifierPrefix", "engine", "dbName", "username", "kmsKeyId", "storageEncrypted",
        "availabilityZone", "characterSetName", "dbSubnetGroupName", "snapshotIdentifier", "timezone",
        "customIamInstanceProfile"),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"),
    "gcp:container/cluster:Cluster": (
        "name", "location", "project", "network", "subnetwork", "privateClusterConfig.enablePrivateNodes",
        "privateClusterConfig.masterIpv4CidrBlock", "ipAllocationPolicy", "enableAutopilot", "initialNodeCount"),
    "gcp:sql/databaseInstance:DatabaseInstance": ("name", "region", "project", "masterInstanceName",
                                                  "encryptionKeyName"),
    "gcp:storage/bucket:Bucket": ("name", "location", "project"),
    "gcp:kms/keyRing:KeyRing": ("name", "location", "project"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation",
                                    "versionTemplate.protectionLevel"),
    "azure-native:containerservice:ManagedCluster": ("resourceName", "resourceGroupName", "location", "dnsPrefix"),
    "azure-native:dbforpostgresql:Server": ("serverName", "resourceGroupName", "location"),
    "azure-native:storage:StorageAccount": ("accountName", "resourceGroupName", "location"),
    "azure-native:storage:BlobContainer": ("containerName", "accountName", "resourceGroupName"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Key": ("keyName", "vaultName", "resourceGroupName"),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
})
"""Type token -> input paths (dotted, wire-form camelCase) whose change replaces the resource."""

MAJOR_VERSION_INPUT: Mapping[str, str] = MappingProxyType({
    "aws:rds/instance:Instance": "engineVersion",
    "gcp:sql/databaseInstance:DatabaseInstance": "databaseVersion",
    "azure-native:dbforpostgresql:Server": "version",
})
"""Database type -> its engine version input. All three clouds upgrade a major version in place, but the upgrade
cannot be undone (there is no downgrade), takes the database offline and rewrites its data files: a reviewer must
treat it like a replacement, so the plan diff flags it in the same section."""


def stateful_kind(type_: str, protect: bool) -> str | None:
    """What state a resource holds, or None when losing it loses nothing (it is neither listed nor protected)."""
    return STATEFUL_KINDS.get(type_) or ("protected" if protect else None)


def major_version(value: object) -> str | None:
    """The major part of an engine version: ``17.5`` -> ``17``, ``POSTGRES_16`` -> ``16``, ``16`` -> ``16``."""
    if not isinstance(value, (str, int)):
        return None
    text = str(value).rsplit("_", 1)[-1]
    return text.split(".")[0] or None
