"""Per rule: a compliant set of resources and one change that breaks the rule.

``Case(rule, good, index, path, bad)``: ``good`` passes the rule; setting the input at ``path`` of ``good[index]``
to ``bad`` (REMOVE deletes it; an empty path deletes the resource) fails it. The same path set to the engine's
unknown value must not fail it. ``config`` is the policy config file the case runs with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.policy.conftest import REMOVE, resource, urn_of


@dataclass(frozen=True)
class Case:
    rule: str
    good: list
    index: int
    path: tuple
    bad: Any
    config: dict = field(default_factory=dict)
    unknown_path: tuple | None = None
    """Where to put an unknown when ``path`` removes a whole resource."""

    @property
    def id(self) -> str:
        return f"{self.rule}:{'.'.join(map(str, self.path)) or 'removed'}"


TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops",
        "managed-by": "pulumi"}
PROD = {**TAGS, "environment": "prod"}
DIGEST = "sha256:3b1f9c07e5d4a2b8c6f0e1d7a9b3c5e2f4a6d8b0c2e4f6a8b1d3c5e7f9a0b2c4"
"""Shaped like a real digest: the pack refuses placeholders such as all-zero or single-digit digests."""

# --- storage ------------------------------------------------------------------------------------------------------
S3 = "aws:s3/bucket:Bucket"


def s3_bucket_set() -> list:
    bucket = resource(S3, "b", {"bucket": "art", "tags": TAGS})
    ref = {"bucket": (bucket.urn,)}
    policy = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    return [
        bucket,
        resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", {
            "bucket": "art", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}, property_dependencies=ref),
        resource("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "enc", {
            "bucket": "art", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                                                               "kmsMasterKeyId": "arn:k"}}]},
            property_dependencies=ref),
        resource("aws:s3/bucketPolicy:BucketPolicy", "pol", {"bucket": "art", "policy": policy},
                 property_dependencies=ref),
        resource("aws:s3/bucketVersioning:BucketVersioning", "ver",
                 {"bucket": "art", "versioningConfiguration": {"status": "Enabled"}}, property_dependencies=ref),
        resource("aws:s3/bucketLogging:BucketLogging", "log", {"bucket": "art", "targetBucket": "logs"},
                 property_dependencies=ref),
        resource("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "own",
                 {"bucket": "art", "rule": {"objectOwnership": "BucketOwnerEnforced"}}, property_dependencies=ref),
        resource("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lc",
                 {"bucket": "art", "rules": [{"id": "x", "status": "Enabled"}]}, property_dependencies=ref),
    ]


GCS = [resource("gcp:storage/bucket:Bucket", "g", {
    "publicAccessPrevention": "enforced", "uniformBucketLevelAccess": True, "versioning": {"enabled": True},
    "softDeletePolicy": {"retentionDurationSeconds": 0},
    "logging": {"logBucket": "logs"}, "lifecycleRules": [{"action": {"type": "Delete"}}],
    "encryption": {"defaultKmsKeyName": "projects/p/k"}, "labels": TAGS})]


def azure_account_set() -> list:
    account = resource("azure-native:storage:StorageAccount", "sa", {
        "accountName": "sa1", "allowBlobPublicAccess": False, "publicNetworkAccess": "Disabled",
        "enableHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": False,
        "encryption": {"keySource": "Microsoft.Keyvault"}, "tags": TAGS})
    ref = {"accountName": (account.urn,)}
    return [
        account,
        resource("azure-native:storage:BlobServiceProperties", "blob", {
            "accountName": "sa1", "isVersioningEnabled": True}, property_dependencies=ref),
        resource("azure-native:storage:ManagementPolicy", "mp", {"accountName": "sa1"}, property_dependencies=ref),
        resource("azure-native:monitor:DiagnosticSetting", "diag", {"resourceUri": "x"},
                 property_dependencies={"resourceUri": (account.urn,)}),
    ]


CMK = {"storage-encryption-at-rest": {"requireCustomerManagedKey": True}}
STORAGE_CASES = [
    Case("storage-no-public-access", s3_bucket_set(), 1, ("blockPublicPolicy",), False),
    Case("storage-no-public-access", s3_bucket_set(), 1, (), None, unknown_path=(1, ("ignorePublicAcls",))),
    Case("storage-no-public-access", GCS, 0, ("publicAccessPrevention",), "inherited"),
    Case("storage-no-public-access", azure_account_set(), 0, ("allowBlobPublicAccess",), True),
    Case("storage-encryption-at-rest", s3_bucket_set(), 2, ("rules", 0, "applyServerSideEncryptionByDefault",
                                                            "sseAlgorithm"), "AES256", CMK),
    Case("storage-encryption-at-rest", s3_bucket_set(), 2, (), None, unknown_path=(2, ("rules",))),
    Case("storage-encryption-at-rest", GCS, 0, ("encryption",), REMOVE, CMK),
    Case("storage-encryption-at-rest", azure_account_set(), 0, ("encryption", "keySource"), "Microsoft.Storage", CMK),
    Case("storage-tls-only", s3_bucket_set(), 3, ("policy",), json.dumps({"Statement": []})),
    Case("storage-tls-only", azure_account_set(), 0, ("minimumTlsVersion",), "TLS1_0"),
    Case("storage-versioning", s3_bucket_set(), 4, ("versioningConfiguration", "status"), "Suspended"),
    Case("storage-versioning", GCS, 0, ("versioning",), {"enabled": False}),
    Case("storage-versioning", azure_account_set(), 1, ("isVersioningEnabled",), False),
    Case("storage-access-logging", s3_bucket_set(), 5, (), None, unknown_path=(5, ("targetBucket",))),
    Case("storage-access-logging", GCS, 0, ("logging",), REMOVE),
    Case("storage-access-logging", azure_account_set(), 3, (), None, unknown_path=(3, ("resourceUri",))),
    Case("storage-access-logging", azure_account_set(), 3, ("__type__",), "azure-native:monitor:ActionGroup",
         unknown_path=(3, ("resourceUri",))),
    Case("storage-uniform-access", s3_bucket_set(), 6, ("rule", "objectOwnership"), "ObjectWriter"),
    Case("storage-uniform-access", GCS, 0, ("uniformBucketLevelAccess",), False),
    Case("storage-uniform-access", azure_account_set(), 0, ("allowSharedKeyAccess",), True),
    Case("storage-lifecycle-rules", s3_bucket_set(), 7, ("rules", 0, "status"), "Disabled"),
    Case("storage-lifecycle-rules", GCS, 0, ("lifecycleRules",), []),
    Case("storage-lifecycle-rules", azure_account_set(), 2, (), None, unknown_path=(2, ("accountName",))),
]

# --- clusters -----------------------------------------------------------------------------------------------------
EKS = "aws:eks/cluster:Cluster"


def eks_set() -> list:
    cluster = resource(EKS, "eks", {
        "name": "c1", "version": "1.33", "vpcConfig": {"endpointPublicAccess": False},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:k"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator"], "accessConfig": {"authenticationMode": "API"},
        "tags": TAGS})
    return [
        cluster,
        resource("aws:eks/addon:Addon", "cni", {"clusterName": "c1", "addonName": "vpc-cni",
                                                  "configurationValues": json.dumps({"enableNetworkPolicy": "true"})},
                 property_dependencies={"clusterName": (cluster.urn,)}),
        resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "oidc", {"url": "https://oidc"}),
        resource("aws:eks/nodeGroup:NodeGroup", "ng", {
            "nodeGroupName": "cpu", "instanceTypes": ["m6i.large"], "capacityType": "SPOT",
            "scalingConfig": {"maxSize": 5, "minSize": 1, "desiredSize": 1}, "tags": TAGS}),
    ]


GKE = [resource("gcp:container/cluster:Cluster", "gke", {
    "privateClusterConfig": {"enablePrivateEndpoint": True, "enablePrivateNodes": True},
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": "k"}, "networkPolicy": {"enabled": True},
    "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}, "releaseChannel": {"channel": "REGULAR"},
    "removeDefaultNodePool": True, "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "APISERVER"]},
    "resourceLabels": TAGS}),
    resource("gcp:container/nodePool:NodePool", "pool", {
        "name": "cpu", "nodeConfig": {"machineType": "e2-standard-4", "serviceAccount": "nodes@p.iam.gserviceaccount.com",
                                      "spot": True, "workloadMetadataConfig": {"mode": "GKE_METADATA"}},
        "autoscaling": {"maxNodeCount": 3}})]
AKS = [resource("azure-native:containerservice:ManagedCluster", "aks", {
    "apiServerAccessProfile": {"enablePrivateCluster": True},
    "securityProfile": {"azureKeyVaultKms": {"enabled": True}, "workloadIdentity": {"enabled": True}},
    "oidcIssuerProfile": {"enabled": True}, "disableLocalAccounts": True,
    "networkProfile": {"networkPolicy": "cilium"}, "autoUpgradeProfile": {"upgradeChannel": "stable"},
    "kubernetesVersion": "1.33",
    "agentPoolProfiles": [{"name": "system", "mode": "System", "vmSize": "Standard_D4s_v5", "count": 3}],
    "tags": TAGS})]


def aks_audit_set() -> list:
    cluster = resource("azure-native:containerservice:ManagedCluster", "aks-audited", dict(AKS[0].inputs))
    return [cluster, resource("azure-native:monitor:DiagnosticSetting", "aks-audit", {
        "resourceUri": "x", "workspaceId": "w", "logs": [{"category": "kube-audit-admin", "enabled": True}]},
        property_dependencies={"resourceUri": (cluster.urn,)})]


CLUSTER_CASES = [
    Case("cluster-private-endpoint", eks_set(), 0, ("vpcConfig", "endpointPublicAccess"), True),
    Case("cluster-private-endpoint", GKE, 0, ("privateClusterConfig", "enablePrivateEndpoint"), False),
    Case("cluster-private-endpoint", AKS, 0, ("apiServerAccessProfile",), {"authorizedIPRanges": ["0.0.0.0/0"]}),
    Case("cluster-private-nodes", GKE, 0, ("privateClusterConfig", "enablePrivateNodes"), False),
    Case("cluster-private-nodes", AKS, 0, ("agentPoolProfiles", 0, "enableNodePublicIP"), True),
    Case("cluster-private-nodes", eks_set(), 3, ("remoteAccess",), {"ec2SshKey": "k"}),
    Case("cluster-secrets-encryption", eks_set(), 0, ("encryptionConfig",), REMOVE),
    Case("cluster-secrets-encryption", GKE, 0, ("databaseEncryption", "state"), "DECRYPTED"),
    Case("cluster-secrets-encryption", AKS, 0, ("securityProfile", "azureKeyVaultKms", "enabled"), False),
    Case("cluster-audit-logs", eks_set(), 0, ("enabledClusterLogTypes",), ["api"]),
    Case("cluster-audit-logs", GKE, 0, ("loggingConfig", "enableComponents"), ["SYSTEM_COMPONENTS"]),
    Case("cluster-audit-logs", aks_audit_set(), 1, ("logs", 0, "category"), "kube-apiserver"),
    Case("cluster-audit-logs", aks_audit_set(), 1, (), None, unknown_path=(1, ("resourceUri",))),
    Case("cluster-network-policy-enforced", eks_set(), 1, ("configurationValues",), "{}"),
    Case("cluster-network-policy-enforced", GKE, 0, ("networkPolicy", "enabled"), False),
    Case("cluster-network-policy-enforced", AKS, 0, ("networkProfile", "networkPolicy"), "none"),
    Case("cluster-workload-identity", eks_set(), 2, (), None, unknown_path=(2, ("url",))),
    Case("cluster-workload-identity", GKE, 0, ("workloadIdentityConfig",), REMOVE),
    Case("cluster-workload-identity", AKS, 0, ("oidcIssuerProfile", "enabled"), False),
    Case("cluster-no-local-accounts", eks_set(), 0, ("accessConfig", "authenticationMode"), "CONFIG_MAP"),
    Case("cluster-no-local-accounts", GKE, 1, ("nodeConfig", "serviceAccount"), "default"),
    Case("cluster-no-local-accounts", AKS, 0, ("disableLocalAccounts",), False),
    Case("cluster-supported-version", eks_set(), 0, ("version",), "1.27"),
    Case("cluster-supported-version", GKE, 0, ("releaseChannel", "channel"), "UNSPECIFIED"),
    Case("cluster-supported-version", AKS, 0, ("autoUpgradeProfile", "upgradeChannel"), "none"),
]

# --- databases ----------------------------------------------------------------------------------------------------
RDS = "aws:rds/instance:Instance"


def rds_set(tags=TAGS) -> list:
    group = resource("aws:rds/parameterGroup:ParameterGroup", "pg", {
        "name": "pg", "family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]})
    return [
        resource(RDS, "db", {
            "engine": "postgres", "engineVersion": "14.12", "publiclyAccessible": False, "storageEncrypted": True,
            "kmsKeyId": "arn:k", "backupRetentionPeriod": 14, "deletionProtection": True, "multiAz": True,
            "enabledCloudwatchLogsExports": ["postgresql", "upgrade"], "parameterGroupName": "pg",
            "tags": tags}, protect=True, property_dependencies={"parameterGroupName": (group.urn,)}),
        group,
    ]


CLOUD_SQL = [resource("gcp:sql/databaseInstance:DatabaseInstance", "sql", {
    "deletionProtection": True, "encryptionKeyName": "projects/p/k", "settings": {
        "ipConfiguration": {"ipv4Enabled": False, "sslMode": "ENCRYPTED_ONLY"}, "availabilityType": "REGIONAL",
        "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": True,
                                "backupRetentionSettings": {"retainedBackups": 14}},
        "databaseFlags": [{"name": "log_connections", "value": "on"}, {"name": "log_disconnections", "value": "on"}],
        "userLabels": PROD}}, protect=True)]
AZURE_PG = [resource("azure-native:dbforpostgresql:Server", "pgf", {
    "network": {"publicNetworkAccess": "Disabled"}, "backup": {"backupRetentionDays": 14},
    "highAvailability": {"mode": "ZoneRedundant"}, "dataEncryption": {"type": "AzureKeyVault"}, "tags": PROD},
    protect=True)]
PRODUCTION_SQL = {"database-high-availability": {"productionStacks": ["policy-test"]}}

DATABASE_CASES = [
    Case("database-no-public-access", rds_set(), 0, ("publiclyAccessible",), True),
    Case("database-no-public-access", CLOUD_SQL, 0, ("settings", "ipConfiguration", "ipv4Enabled"), True),
    Case("database-no-public-access", AZURE_PG, 0, ("network", "publicNetworkAccess"), "Enabled"),
    Case("database-encryption-at-rest", rds_set(), 0, ("storageEncrypted",), False),
    Case("database-encryption-at-rest", CLOUD_SQL, 0, ("encryptionKeyName",), REMOVE,
         {"database-encryption-at-rest": {"requireCustomerManagedKey": True}}),
    Case("database-tls-required", rds_set(), 1, ("parameters", 0, "value"), "0"),
    Case("database-tls-required", CLOUD_SQL, 0, ("settings", "ipConfiguration", "sslMode"), "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
    Case("database-backups", rds_set(), 0, ("backupRetentionPeriod",), 1),
    Case("database-backups", CLOUD_SQL, 0, ("settings", "backupConfiguration", "pointInTimeRecoveryEnabled"), False),
    Case("database-backups", AZURE_PG, 0, ("backup", "backupRetentionDays"), 3),
    Case("database-deletion-protection", rds_set(), 0, ("deletionProtection",), False),
    Case("database-deletion-protection", CLOUD_SQL, 0, ("deletionProtection",), False),
    Case("database-high-availability", rds_set(PROD), 0, ("multiAz",), False),
    Case("database-high-availability", CLOUD_SQL, 0, ("settings", "availabilityType"), "ZONAL", PRODUCTION_SQL),
    Case("database-high-availability", AZURE_PG, 0, ("highAvailability", "mode"), "Disabled"),
    Case("database-audit-logging", rds_set(), 0, ("enabledCloudwatchLogsExports",), ["upgrade"]),
    Case("database-audit-logging", CLOUD_SQL, 0, ("settings", "databaseFlags", 1, "value"), "off"),
]

# --- IAM ----------------------------------------------------------------------------------------------------------
SCOPED_TRUST = json.dumps({"Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "arn:oidc"},
    "Condition": {"StringEquals": {"oidc.eks.amazonaws.com/id/X:sub": "system:serviceaccount:mlflow:mlflow",
                                   "oidc.eks.amazonaws.com/id/X:aud": "sts.amazonaws.com"}}}]})
GITHUB_TRUST = json.dumps({"Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
    "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
    "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": ["repo:acme/app:pull_request"],
                                   "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]})
IAM_CASES = [
    Case("iam-no-wildcard-admin", [resource("aws:iam/policy:Policy", "p", {"policy": json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::art/*"}]})})],
         0, ("policy",), json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})),
    Case("iam-no-wildcard-admin", [resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {
        "role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"})],
         0, ("policyArn",), "arn:aws:iam::aws:policy/AdministratorAccess"),
    Case("iam-no-gcp-basic-roles", [resource("gcp:projects/iAMMember:IAMMember", "m", {
        "project": "p", "role": "roles/storage.objectViewer", "member": "serviceAccount:a@p"})],
         0, ("role",), "roles/editor"),
    Case("iam-no-subscription-owner", [resource("azure-native:authorization:RoleAssignment", "ra", {
        "scope": "/subscriptions/0000", "principalType": "ServicePrincipal",
        "roleDefinitionId": "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/"
                            "ba92f5b4-2d11-453d-a403-e96b0029c9fe"})],
         0, ("roleDefinitionId",), "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/"
                                   "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    Case("iam-no-static-keys", [resource("aws:iam/user:User", "u", {"name": "ci"})], 0, ("__type__",),
         "aws:iam/accessKey:AccessKey", unknown_path=(0, ("name",))),
    Case("iam-no-static-keys", [resource("gcp:serviceaccount/account:Account", "sa", {"accountId": "ci"})], 0,
         ("__type__",), "gcp:serviceaccount/key:Key", unknown_path=(0, ("accountId",))),
    Case("iam-federation-scoped", [resource("aws:iam/role:Role", "r", {"assumeRolePolicy": SCOPED_TRUST})],
         0, ("assumeRolePolicy",), SCOPED_TRUST.replace("StringEquals", "StringLike").replace(
             "mlflow:mlflow", "*:*")),
    Case("iam-federation-scoped", [resource("azure-native:managedidentity:FederatedIdentityCredential", "f", {
        "subject": "system:serviceaccount:mlflow:mlflow"})], 0, ("subject",), "system:serviceaccount:mlflow:*"),
    Case("iam-federation-scoped", [resource("gcp:serviceaccount/iAMMember:IAMMember", "wi", {
        "role": "roles/iam.workloadIdentityUser", "member": "serviceAccount:p.svc.id.goog[mlflow/mlflow]"})],
         0, ("member",), "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*"),
    Case("iam-federation-scoped", [resource("aws:iam/role:Role", "gh", {"assumeRolePolicy": GITHUB_TRUST})],
         0, ("assumeRolePolicy",), GITHUB_TRUST.replace(":pull_request", ":*")),
    Case("iam-federation-scoped", [resource("azure-native:managedidentity:FederatedIdentityCredential", "ghf", {
        "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/app:environment:production"})],
         0, ("subject",), "repo:acme/*:environment:production"),
    Case("iam-federation-scoped", [resource("gcp:serviceaccount/iAMMember:IAMMember", "ghwi", {
        "role": "roles/iam.workloadIdentityUser", "member": "principal://iam.googleapis.com/projects/1/locations/"
                                                            "global/workloadIdentityPools/p/subject/repo:acme/app:pull_request"})],
         0, ("member",), "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/"
                         "repo:acme/app:workflow_dispatch"),
]

# --- Kubernetes workloads -----------------------------------------------------------------------------------------
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def container(**overrides) -> dict:
    base = {
        "name": "app", "image": f"ghcr.io/org/app:1.0@{DIGEST}", "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                            "privileged": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
    }
    return {**base, **overrides}


def deployment(name="app", labels=None, environment="dev", **pod) -> Any:
    spec = {"automountServiceAccountToken": False, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container()], **pod}
    labels = {**TAGS, "environment": environment, **(labels or {})}
    return resource(DEPLOYMENT, name, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "models", "labels": labels},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name, **(labels or {})}}, "spec": spec}}})


POD = ("spec", "template", "spec")
C0 = (*POD, "containers", 0)
WORKLOAD_CASES = [
    Case("k8s-resource-limits", [deployment()], 0, (*C0, "resources", "limits"), {"cpu": "1"}),
    Case("k8s-resource-limits", [deployment()], 0, (*C0, "resources", "requests", "nvidia.com/gpu"), 1),
    Case("k8s-run-as-non-root", [deployment()], 0, (*C0, "securityContext", "runAsUser"), 0),
    Case("k8s-no-privileged", [deployment()], 0, (*C0, "securityContext", "privileged"), True),
    Case("k8s-no-privilege-escalation", [deployment()], 0, (*C0, "securityContext", "allowPrivilegeEscalation"), True),
    Case("k8s-drop-all-capabilities", [deployment()], 0, (*C0, "securityContext", "capabilities"),
         {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    Case("k8s-no-host-namespaces", [deployment()], 0, (*POD, "hostNetwork"), True),
    Case("k8s-no-host-port", [deployment()], 0, (*C0, "ports", 0, "hostPort"), 8080),
    Case("k8s-no-host-path", [deployment()], 0, (*POD, "volumes"),
         [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]),
    Case("k8s-seccomp-runtime-default", [deployment()], 0, (*C0, "securityContext", "seccompProfile", "type"),
         "Unconfined"),
    Case("k8s-read-only-root-filesystem", [deployment()], 0, (*C0, "securityContext", "readOnlyRootFilesystem"),
         False),
    Case("k8s-image-pinned", [deployment()], 0, (*C0, "image"), "ghcr.io/org/app:latest"),
    Case("k8s-image-pinned", [deployment(environment="prod")], 0, (*C0, "image"), "ghcr.io/org/app:1.0"),
    Case("k8s-image-pinned", [deployment(environment="prod")], 0, (*C0, "image"),
         "ghcr.io/org/app:1.0@sha256:" + "0" * 64),
    Case("k8s-image-pinned", [deployment()], 0, (*C0, "image"), "ghcr.io/org/app:1.0@sha256:" + "deadbeef" * 8),
    Case("k8s-allowed-registries", [deployment()], 0, (*C0, "image"), f"evil.example.com/app:1.0@{DIGEST}"),
    # Google publishes its own images (the Cloud SQL Auth Proxy) on gcr.io, which Artifact Registry serves.
    Case("k8s-allowed-registries",
         [deployment(containers=[container(image=f"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.23.0@{DIGEST}")])],
         0, (*C0, "image"), f"gcr.io.evil.example.com/cloud-sql-proxy:2.23.0@{DIGEST}"),
    Case("k8s-serving-probes", [deployment()], 0, (*C0, "readinessProbe"), REMOVE),
    Case("k8s-no-default-namespace", [deployment()], 0, ("metadata", "namespace"), "default"),
    Case("k8s-no-token-automount", [deployment()], 0, (*POD, "automountServiceAccountToken"), True),
]

# --- Kubernetes platform ------------------------------------------------------------------------------------------
NAMESPACE = resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "models", "labels": TAGS}})
DENY = resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "deny", {
    "metadata": {"name": "default-deny", "namespace": "models", "labels": TAGS},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
INTERNAL_LB = resource("kubernetes:core/v1:Service", "svc", {
    "metadata": {"name": "api", "namespace": "models", "labels": TAGS,
                 "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
    "spec": {"type": "LoadBalancer", "selector": {"app": "api"}, "ports": [{"port": 443}]}})
INGRESS = resource("kubernetes:networking.k8s.io/v1:Ingress", "ing", {
    "metadata": {"name": "api", "namespace": "models", "labels": TAGS},
    "spec": {"rules": [{"host": "api.example.com"}], "tls": [{"hosts": ["api.example.com"], "secretName": "tls"}]}})
GATEWAY = resource("kubernetes:gateway.networking.k8s.io/v1:Gateway", "gw", {
    "metadata": {"name": "gw", "namespace": "models", "labels": TAGS},
    "spec": {"gatewayClassName": "x", "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}]}})
ROLE = resource("kubernetes:rbac.authorization.k8s.io/v1:Role", "role", {
    "metadata": {"name": "reader", "namespace": "models", "labels": TAGS},
    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
BINDING = resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "crb", {
    "metadata": {"name": "reader", "labels": TAGS}, "roleRef": {"kind": "ClusterRole", "name": "view"},
    "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "models"}]})

PLATFORM_CASES = [
    Case("k8s-default-deny-network-policy", [NAMESPACE, DENY, deployment()], 1, ("spec", "ingress"),
         [{"from": [{"podSelector": {}}]}]),
    Case("k8s-internal-load-balancers", [INTERNAL_LB], 0, ("metadata", "annotations"), {}),
    Case("k8s-ingress-tls", [INGRESS], 0, ("spec", "tls"), []),
    Case("k8s-ingress-tls", [GATEWAY], 0, ("spec", "listeners", 0, "protocol"), "HTTP"),
    Case("k8s-no-wildcard-rbac", [ROLE], 0, ("rules", 0, "verbs"), ["*"]),
    Case("k8s-no-cluster-admin-binding", [BINDING], 0, ("roleRef", "name"), "cluster-admin"),
]

# --- cost ---------------------------------------------------------------------------------------------------------
GPU_POOL = resource("aws:eks/nodeGroup:NodeGroup", "gpu", {
    "nodeGroupName": "gpu", "instanceTypes": ["g5.xlarge"], "capacityType": "ON_DEMAND",
    "scalingConfig": {"maxSize": 2, "minSize": 0, "desiredSize": 0}, "tags": TAGS})
COST_CASES = [
    Case("required-cost-tags", [resource(S3, "b", {"tags": TAGS})], 0, ("tags", "owner"), REMOVE),
    Case("cost-tag-values", [resource(S3, "b", {"tags": TAGS})], 0, ("tags", "environment"), "qa",
         {"cost-tag-values": {"allowedCostCenters": ["ml-platform"]}}),
    Case("cost-tag-values", [resource(S3, "b", {"tags": TAGS})], 0, ("tags", "cost-center"), "marketing",
         {"cost-tag-values": {"allowedCostCenters": ["ml-platform"]}}),
    Case("cost-gpu-allow-list", [GPU_POOL], 0, ("instanceTypes",), ["p4d.24xlarge"]),
    Case("cost-gpu-allow-list", GKE, 1, ("nodeConfig", "guestAccelerators"), [{"type": "nvidia-h100-80gb",
                                                                                 "count": 8}]),
    Case("cost-node-caps", eks_set(), 3, ("scalingConfig", "maxSize"), 50),
    Case("cost-node-caps", AKS, 0, ("agentPoolProfiles", 0, "count"), 40),
    Case("cost-spot-non-production", eks_set(), 3, ("capacityType",), "ON_DEMAND"),
]

# --- MLOps --------------------------------------------------------------------------------------------------------
MLFLOW_LABELS = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}


def mlflow_server(args=("server", "--app-name", "basic-auth")) -> Any:
    return deployment("mlflow", labels=MLFLOW_LABELS, containers=[container(
        name="mlflow", command=["mlflow"], args=list(args))])


def endpoint(colour: str, **container_overrides) -> Any:
    labels = {"mlops.dev/endpoint": "churn", "mlops.dev/colour": colour}
    return deployment(f"churn-{colour}", labels=labels, containers=[container(name="server", **container_overrides)])


LIVE = resource("kubernetes:core/v1:Service", "live", {
    "metadata": {"name": "churn", "namespace": "models", "labels": TAGS},
    "spec": {"type": "ClusterIP", "selector": {"mlops.dev/endpoint": "churn", "mlops.dev/colour": "blue"}}})
MONITOR = resource("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "sm", {
    "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
    "metadata": {"name": "churn", "namespace": "models", "labels": TAGS},
    "spec": {"selector": {"matchLabels": {"mlops.dev/endpoint": "churn"}}, "endpoints": [{"port": "http"}]}})
ALERTS = resource("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "alerts", {
    "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
    "metadata": {"name": "churn-alerts", "namespace": "models", "labels": TAGS},
    "spec": {"groups": [{"name": "model-endpoint-models-churn", "rules": [
        {"alert": "ChurnDown", "expr": 'up{service="churn"} == 0'}]}]}})
MONITORING = resource("kubernetes:helm.sh/v3:Release", "prom", {
    "chart": "kube-prometheus-stack", "version": "88.5.3", "namespace": "monitoring", "values": {
        "prometheus": {"prometheusSpec": {"retention": "15d",
                                          "storageSpec": {"volumeClaimTemplate": {"spec": {"resources": {}}}}}},
        "grafana": {"admin": {"existingSecret": "grafana-admin"}}}})

MLOPS_CASES = [
    Case("mlflow-database-secure", [mlflow_server(), *rds_set()], 1, ("backupRetentionPeriod",), 1),
    Case("mlflow-tracking-auth", [mlflow_server()], 0, (*C0, "args"), ["server", "--host", "0.0.0.0"]),
    Case("endpoint-blue-green-consistent", [endpoint("blue"), endpoint("green"), LIVE], 1,
         (*C0, "resources", "limits", "memory"), "8Gi"),
    Case("endpoint-blue-green-consistent", [endpoint("blue"), endpoint("green", resources={
        "requests": {"cpu": "100m", "memory": "128Mi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "1", "memory": "256Mi", "nvidia.com/gpu": "1"}}), LIVE], 1,
         (*C0, "resources", "limits", "cpu"), "2"),
    Case("endpoint-blue-green-consistent", [endpoint("blue"), endpoint("green"), LIVE], 2,
         ("spec", "selector", "mlops.dev/colour"), REMOVE),
    Case("monitoring-stack-present", [deployment(), MONITORING], 1, ("values", "grafana", "adminPassword"),
         "prom-operator"),
    Case("monitoring-stack-present", [deployment(), MONITORING], 1,
         ("values", "prometheus", "prometheusSpec", "storageSpec"), REMOVE),
    Case("endpoint-monitoring", [endpoint("blue"), MONITOR, ALERTS], 1, ("spec", "selector", "matchLabels"),
         {"app": "other"}),
    Case("endpoint-monitoring", [endpoint("blue"), MONITOR, ALERTS], 2, (), None,
         unknown_path=(2, ("spec",))),
]

CASES = STORAGE_CASES + CLUSTER_CASES + DATABASE_CASES + IAM_CASES + WORKLOAD_CASES + PLATFORM_CASES + COST_CASES + \
    MLOPS_CASES
__all__ = ["CASES", "Case", "urn_of"]
