"""A passing and a failing case for every resource type the public-access rules judge (``mlopsguard.public_access``).

Each case is one resource standing alone, as it would in a stack that does not hold the bucket, registry, key or
database it opens: the compliant inputs pass, and the one change (``path`` set to ``bad``) fails.
"""

from __future__ import annotations

import json

from tests.policy.cases import TAGS, Case
from tests.policy.conftest import REMOVE, resource

STORAGE, DATABASE, REGISTRY, KEY, RBAC = ("storage-no-public-grants", "database-no-public-exposure",
                                          "registry-no-public-access", "key-no-public-access", "k8s-no-anonymous-rbac")

ACCOUNT = "arn:aws:iam::111122223333:root"
PRIVATE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "*", "Resource": "*"},
    {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]})
PUBLIC_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}]})
OPEN_BLOCK = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
              "restrictPublicBuckets": True}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
OWNER_GRANT = {"type": "CanonicalUser", "id": "abc", "permissions": ["FULL_CONTROL"]}
GCP_PRIVATE = json.dumps({"bindings": [{"role": "roles/viewer", "members": ["serviceAccount:a@p.iam"]}]})
GCP_PUBLIC = json.dumps({"bindings": [{"role": "roles/viewer", "members": ["serviceAccount:a@p.iam", "allUsers"]}]})


def _one(rule: str, type_: str, inputs: dict, path: tuple, bad, name: str = "r", config: dict | None = None) -> Case:
    return Case(rule, [resource(type_, name, inputs)], 0, path, bad, config or {})


def _policy(rule: str, type_: str, prop: str = "policy", **other) -> Case:
    return _one(rule, type_, {prop: PRIVATE_POLICY, **other}, (prop,), PUBLIC_POLICY)


def _gcp_iam(rule: str, prefix: str, scope: dict) -> list[Case]:
    package, kind = prefix.split("/")
    title = kind[0].upper() + kind[1:]
    return [
        _one(rule, f"gcp:{package}/{kind}Member:{title}Member",
             {**scope, "role": "roles/viewer", "member": "serviceAccount:a@p.iam"}, ("member",), "allUsers"),
        _one(rule, f"gcp:{package}/{kind}Binding:{title}Binding",
             {**scope, "role": "roles/viewer", "members": ["serviceAccount:a@p.iam"]}, ("members",),
             ["serviceAccount:a@p.iam", "allAuthenticatedUsers"]),
        _one(rule, f"gcp:{package}/{kind}Policy:{title}Policy", {**scope, "policyData": GCP_PRIVATE},
             ("policyData",), GCP_PUBLIC),
    ]


def _existence(rule: str, public_type: str, private_type: str, inputs: dict) -> Case:
    """A type that is public by existing: the private sibling passes, turning it into the public type fails."""
    key = next(iter(inputs))
    return Case(rule, [resource(private_type, "r", inputs)], 0, ("__type__",), public_type,
                unknown_path=(0, (key,)))


STORAGE_CASES = [
    _one(STORAGE, "aws:s3/bucket:Bucket", {"bucket": "b", "acl": "private"}, ("acl",), "public-read"),
    _one(STORAGE, "aws:s3/bucket:Bucket", {"bucket": "b", "grants": [OWNER_GRANT]}, ("grants",),
         [OWNER_GRANT, {"type": "Group", "uri": ALL_USERS, "permissions": ["READ"]}]),
    _policy(STORAGE, "aws:s3/bucket:Bucket", bucket="b"),
    _one(STORAGE, "aws:s3/bucketV2:BucketV2", {"bucket": "b", "acl": "private"}, ("acl",), "authenticated-read"),
    _one(STORAGE, "aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "private"}, ("acl",), "public-read-write"),
    _one(STORAGE, "aws:s3/bucketAclV2:BucketAclV2", {"bucket": "b", "accessControlPolicy": {
        "owner": {"id": "abc"}, "grants": [{"grantee": {"type": "CanonicalUser", "id": "abc"},
                                            "permission": "FULL_CONTROL"}]}},
         ("accessControlPolicy", "grants", 0, "grantee"), {"type": "Group", "uri": ALL_USERS}),
    _policy(STORAGE, "aws:s3/bucketPolicy:BucketPolicy", bucket="b"),
    _one(STORAGE, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"bucket": "b", **OPEN_BLOCK},
         ("restrictPublicBuckets",), False),
    _one(STORAGE, "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", OPEN_BLOCK, ("blockPublicPolicy",),
         REMOVE),
    _one(STORAGE, "aws:s3/bucketObject:BucketObject", {"bucket": "b", "key": "k", "acl": "private"}, ("acl",),
         "public-read"),
    _one(STORAGE, "aws:s3/bucketObjectv2:BucketObjectv2", {"bucket": "b", "key": "k", "acl": "private"}, ("acl",),
         "public-read"),
    _one(STORAGE, "aws:s3/objectCopy:ObjectCopy", {"bucket": "b", "key": "k", "source": "s/k",
                                                   "grants": [OWNER_GRANT]},
         ("grants", 0), {"type": "Group", "uri": ALL_USERS, "permissions": ["READ"]}),
    _one(STORAGE, "aws:s3/accessPoint:AccessPoint", {"bucket": "b", "name": "ap"},
         ("publicAccessBlockConfiguration",), {"blockPublicPolicy": False}),
    _policy(STORAGE, "aws:s3/accessPoint:AccessPoint", bucket="b", name="ap"),
    _policy(STORAGE, "aws:s3/vectorsVectorBucketPolicy:VectorsVectorBucketPolicy", vectorBucketArn="arn:v"),
    _policy(STORAGE, "aws:s3/filesFileSystemPolicy:FilesFileSystemPolicy", fileSystemId="fs"),
    _policy(STORAGE, "aws:s3control/accessPointPolicy:AccessPointPolicy", accessPointArn="arn:ap"),
    _policy(STORAGE, "aws:s3control/bucketPolicy:BucketPolicy", bucket="arn:outposts"),
    _policy(STORAGE, "aws:s3control/objectLambdaAccessPointPolicy:ObjectLambdaAccessPointPolicy", name="olap"),
    _policy(STORAGE, "aws:s3control/accessGrantsInstanceResourcePolicy:AccessGrantsInstanceResourcePolicy"),
    _one(STORAGE, "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
         {"details": {"name": "mrap", "regions": [{"bucket": "b"}]}}, ("details", "publicAccessBlock"),
         {"ignorePublicAcls": False}),
    _one(STORAGE, "aws:s3control/multiRegionAccessPointPolicy:MultiRegionAccessPointPolicy",
         {"details": {"name": "mrap", "policy": PRIVATE_POLICY}}, ("details", "policy"), PUBLIC_POLICY),
    _policy(STORAGE, "aws:s3tables/tableBucketPolicy:TableBucketPolicy", "resourcePolicy", tableBucketArn="arn:t"),
    _policy(STORAGE, "aws:s3tables/tablePolicy:TablePolicy", "resourcePolicy", tableBucketArn="arn:t", name="t"),
    *_gcp_iam(STORAGE, "storage/bucketIAM", {"bucket": "b"}),
    *_gcp_iam(STORAGE, "storage/managedFolderIam", {"bucket": "b", "managedFolder": "f/"}),
    _one(STORAGE, "gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["OWNER:user-a@p.com"]},
         ("roleEntities",), ["OWNER:user-a@p.com", "READER:allUsers"]),
    _one(STORAGE, "gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "private"},
         ("predefinedAcl",), "publicRead"),
    _one(STORAGE, "gcp:storage/bucketACL:BucketACL", {"bucket": "b", "defaultAcl": "projectPrivate"},
         ("defaultAcl",), "publicRead"),
    _one(STORAGE, "gcp:storage/objectACL:ObjectACL", {"bucket": "b", "object": "o", "predefinedAcl": "private"},
         ("predefinedAcl",), "authenticatedRead"),
    _one(STORAGE, "gcp:storage/defaultObjectACL:DefaultObjectACL", {"bucket": "b", "roleEntities": [
        "OWNER:project-owners-1"]}, ("roleEntities", 0), "READER:allUsers"),
    _one(STORAGE, "gcp:storage/bucketAccessControl:BucketAccessControl",
         {"bucket": "b", "entity": "user-a@p.com", "role": "READER"}, ("entity",), "allUsers"),
    _one(STORAGE, "gcp:storage/objectAccessControl:ObjectAccessControl",
         {"bucket": "b", "object": "o", "entity": "user-a@p.com", "role": "READER"}, ("entity",), "allUsers"),
    _one(STORAGE, "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
         {"bucket": "b", "entity": "user-a@p.com", "role": "READER"}, ("entity",), "allAuthenticatedUsers"),
    _one(STORAGE, "azure-native:storage:BlobContainer", {"accountName": "sa", "publicAccess": "None"},
         ("publicAccess",), "Blob"),
    _existence(STORAGE, "azure-native:storage:StorageAccountStaticWebsite", "azure-native:storage:BlobContainer",
               {"accountName": "sa", "publicAccess": "None"}),
]

DATABASE_CASES = [
    _one(DATABASE, "aws:rds/snapshot:Snapshot", {"dbInstanceIdentifier": "db", "sharedAccounts": ["111122223333"]},
         ("sharedAccounts",), ["all"]),
    _one(DATABASE, "aws:rds/snapshotCopy:SnapshotCopy", {"sourceDbSnapshotIdentifier": "s", "sharedAccounts": []},
         ("sharedAccounts",), ["all"]),
    _one(DATABASE, "aws:rds/clusterSnapshot:ClusterSnapshot", {"dbClusterIdentifier": "c"}, ("sharedAccounts",),
         ["111122223333", "all"]),
    _one(DATABASE, "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy", {"sourceDbClusterSnapshotIdentifier": "s"},
         ("sharedAccounts",), ["all"]),
    _one(DATABASE, "aws:rds/cluster:Cluster", {
        "engine": "postgres", "engineVersion": "16.4", "publiclyAccessible": False, "storageEncrypted": True,
        "backupRetentionPeriod": 14, "deletionProtection": True, "tags": TAGS}, ("publiclyAccessible",), True),
    _one(DATABASE, "aws:rds/clusterInstance:ClusterInstance", {"clusterIdentifier": "c", "engine": "aurora-postgresql",
                                                              "publiclyAccessible": False},
         ("publiclyAccessible",), True),
    _one(DATABASE, "azure-native:dbforpostgresql:FirewallRule",
         {"serverName": "pg", "startIpAddress": "10.1.0.0", "endIpAddress": "10.1.255.255"}, ("endIpAddress",),
         "255.255.255.255"),
    _one(DATABASE, "azure-native:dbforpostgresql:FirewallRule",
         {"serverName": "pg", "startIpAddress": "10.1.0.0", "endIpAddress": "10.1.0.255"}, ("startIpAddress",),
         "0.0.0.0"),
    _one(DATABASE, "azure-native:dbforpostgresql:FirewallRule",
         {"serverName": "pg", "startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.255"}, ("endIpAddress",),
         "0.0.0.0"),
    _one(DATABASE, "azure-native:dbforpostgresql:SingleServerFirewallRule",
         {"serverName": "pg", "startIpAddress": "10.1.0.1", "endIpAddress": "10.1.0.1"}, ("endIpAddress",),
         "10.200.0.1"),
    _one(DATABASE, "azure-native:dbforpostgresql:ServerGroupFirewallRule",
         {"clusterName": "c", "startIpAddress": "10.1.0.1", "endIpAddress": "10.1.0.1"}, ("startIpAddress",),
         "0.0.0.0"),
]

REGISTRY_CASES = [
    _policy(REGISTRY, "aws:ecr/repositoryPolicy:RepositoryPolicy", repository="models"),
    _policy(REGISTRY, "aws:ecr/registryPolicy:RegistryPolicy"),
    _policy(REGISTRY, "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "repositoryPolicy",
            prefix="models", appliedFors=["PULL_THROUGH_CACHE"]),
    _existence(REGISTRY, "aws:ecrpublic/repository:Repository", "aws:ecr/repository:Repository",
               {"name": "models"}),
    _policy(REGISTRY, "aws:ecrpublic/repositoryPolicy:RepositoryPolicy", repositoryName="models"),
    *_gcp_iam(REGISTRY, "artifactregistry/repositoryIam", {"repository": "models", "location": "europe-west4"}),
    _one(REGISTRY, "azure-native:containerregistry:Registry", {
        "sku": {"name": "Premium"}, "anonymousPullEnabled": False, "publicNetworkAccess": "Disabled"},
         ("anonymousPullEnabled",), True),
    _one(REGISTRY, "azure-native:containerregistry:Registry", {
        "sku": {"name": "Premium"}, "publicNetworkAccess": "Enabled", "networkRuleSet": {"defaultAction": "Deny"}},
         ("networkRuleSet", "defaultAction"), "Allow"),
]

KEY_CASES = [
    _policy(KEY, "aws:kms/key:Key", description="artifacts"),
    _policy(KEY, "aws:kms/keyPolicy:KeyPolicy", keyId="k"),
    _policy(KEY, "aws:kms/replicaKey:ReplicaKey", primaryKeyArn="arn:k"),
    _policy(KEY, "aws:kms/externalKey:ExternalKey", description="byok"),
    _policy(KEY, "aws:kms/replicaExternalKey:ReplicaExternalKey", primaryKeyArn="arn:k"),
    _one(KEY, "aws:kms/key:Key", {"policy": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333",
                                       "kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}]})},
         ("policy",), json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}]})),
    *_gcp_iam(KEY, "kms/cryptoKeyIAM", {"cryptoKeyId": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}),
    *_gcp_iam(KEY, "kms/keyRingIAM", {"keyRingId": "projects/p/locations/l/keyRings/r"}),
    *_gcp_iam(KEY, "kms/ekmConnectionIam", {"name": "ekm", "location": "europe-west4"}),
    _one(KEY, "azure-native:keyvault:Vault", {"properties": {"tenantId": "t", "publicNetworkAccess": "Disabled"}},
         ("properties", "publicNetworkAccess"), "Enabled"),
    _one(KEY, "azure-native:keyvault:Vault", {"properties": {"tenantId": "t", "networkAcls": {
        "defaultAction": "Deny"}}}, ("properties", "networkAcls", "defaultAction"), "Allow"),
    _one(KEY, "azure-native:keyvault:ManagedHsm", {"properties": {"publicNetworkAccess": "Disabled"}},
         ("properties", "publicNetworkAccess"), REMOVE),
]

_BINDING = {"metadata": {"name": "readers", "namespace": "models"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "name": "ml-readers"}]}
RBAC_CASES = [
    _one(RBAC, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", _BINDING, ("subjects", 0, "name"),
         "system:unauthenticated"),
    _one(RBAC, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", _BINDING, ("subjects",),
         [{"kind": "User", "name": "system:anonymous"}]),
    _one(RBAC, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", _BINDING, ("subjects", 0, "name"),
         "system:authenticated"),
]

PUBLIC_ACCESS_CASES = STORAGE_CASES + DATABASE_CASES + REGISTRY_CASES + KEY_CASES + RBAC_CASES
