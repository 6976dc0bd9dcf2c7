"""Resources that open data to the public, or to anyone with an account, on their own.

A bucket, registry, key or database can be made public by a separate resource: an ACL, an IAM member, binding or
policy, a resource policy, a public access block turned off, a firewall rule, a public snapshot, an RBAC binding
to an anonymous group. Judged only through their parent, such a grant passes when it stands alone, when its parent
lives in another stack, or when it is added later; so each is judged here by itself, in ``Analyze``. The parents'
own settings (S3 bucket public access block, GCS public access prevention, storage account, database servers,
cluster endpoints, LoadBalancer Services) stay with the rules of their domain.

Every rule takes ``allowedPublicResources``: resource names (or URNs) that are public on purpose, such as a static
website or a public image repository.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from .resources import UNKNOWN, get, items, json_document
from .rule import CIS_AWS, CIS_GCP, by_type, cis, iso, judging, nist, pci, resource_rule

Check = Callable[[Any, ResourceValidationArgs], Iterable[str]]

_ALLOW_SCHEMA = PolicyConfigSchema(properties={
    "allowedPublicResources": {
        "type": "array", "items": {"type": "string"}, "default": [],
        "description": "Names (or URNs) of resources that are public on purpose, e.g. a static website bucket.",
    },
})


def _allow_listed(checks: Mapping[str, Check]) -> Callable[..., None]:
    """A by-type validation that leaves the resources named in ``allowedPublicResources`` alone."""
    judge = by_type(checks)

    @judging(checks.__contains__)
    def validate(args: ResourceValidationArgs, report: Callable[..., None]) -> None:
        allowed = args.get_config().get("allowedPublicResources") or ()
        if args.name in allowed or args.urn in allowed:
            return
        judge(args, report)

    return validate


# --- what counts as public ------------------------------------------------------------------------------------------

_RESTRICTING_CONDITION_KEYS = frozenset({
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner", "aws:sourceaccount",
    "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount",
    "aws:principalarn", "aws:userid", "kms:calleraccount", "s3:x-amz-server-side-encryption-aws-kms-key-id",
})
"""Condition keys that, with fixed values, limit a wildcard principal to known accounts, organisations, networks or
sources (Amazon S3's meaning of "public", plus the organisation, principal and KMS caller keys IAM Access Analyzer
also treats as limiting)."""
_OPEN_NETWORKS = ("0.0.0.0/0", "::/0")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _listed(value) for value in principal.values())
    return False


def _limits_principal(condition: Any) -> bool:
    """Whether a statement's condition ties it to fixed accounts, organisations, networks or sources."""
    if not isinstance(condition, dict):
        return False
    for operator, tests in condition.items():
        if not isinstance(tests, dict) or "not" in operator.lower() or operator.lower().endswith("ifexists"):
            continue  # a negated or IfExists test lets requests without the key through
        for key, values in tests.items():
            fixed = [str(v) for v in _listed(values)]
            if key.lower() in _RESTRICTING_CONDITION_KEYS and fixed and not any(
                    "*" in v or v in _OPEN_NETWORKS for v in fixed):
                return True
    return False


def public_statements(document: Any) -> list[str]:
    """The statements of an AWS resource policy that allow anyone: Allow with a ``*`` principal (or any
    NotPrincipal) and no condition limiting it; each named by its Sid or position. [] for an unknown document."""
    if document is UNKNOWN or not isinstance(document, dict):
        return []
    found = []
    for position, statement in enumerate(_listed(document.get("Statement") or [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        anyone = "NotPrincipal" in statement or _wildcard_principal(statement.get("Principal"))
        if anyone and not _limits_principal(statement.get("Condition")):
            found.append(str(statement.get("Sid") or f"#{position}"))
    return found


def _policy_check(what: str, prop: str = "policy") -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        statements = public_statements(json_document(get(props, prop)))
        if statements:
            yield (f"{what} allows anyone (Principal \"*\" without a condition on account, organisation, VPC or "
                   f"source) in statement {', '.join(statements)}")
    return check


_PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
_PUBLIC_GROUP_URIS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                      "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


def _public_grants(grants: Any, *grantee_path: str) -> list[str]:
    """The permissions an S3 ACL grant list gives everyone or every AWS account."""
    found = []
    for grant in items(grants):
        grantee = get(grant, *grantee_path) if grantee_path else grant
        if get(grantee, "uri") in _PUBLIC_GROUP_URIS:
            permissions = get(grant, "permission") or get(grant, "permissions")
            found.append(", ".join(map(str, items(permissions))) or str(permissions))
    return found


def _s3_acl_check(what: str, grants_prop: str | None = "grants") -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        acl = get(props, "acl")
        if acl in _PUBLIC_CANNED_ACLS:
            yield f"{what} has the canned ACL {acl!r}, which grants access to everyone or every AWS account"
        if grants_prop is None:
            return
        granted = _public_grants(get(props, grants_prop))
        if granted:
            yield f"{what} ACL grants {'; '.join(granted)} to AllUsers or AuthenticatedUsers"
    return check


def _s3_bucket_acl(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _s3_acl_check("S3 bucket ACL", None)(props, args)
    granted = _public_grants(get(props, "accessControlPolicy", "grants"), "grantee")
    if granted:
        yield f"S3 bucket ACL grants {'; '.join(granted)} to AllUsers or AuthenticatedUsers"


def _s3_bucket(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _s3_acl_check("S3 bucket")(props, args)
    yield from _policy_check("S3 bucket's inline policy")(props, args)


_BLOCKS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _blocks_off(what: str, *path: str, absent_is_on: bool = False) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        block = get(props, *path) if path else props
        if block is UNKNOWN or (block is None and absent_is_on):
            return
        off = [flag for flag in _BLOCKS if get(block, flag) not in (True, UNKNOWN)
               and not (absent_is_on and get(block, flag) is None)]
        if off:
            yield f"{what} leaves {', '.join(off)} off, which lets ACLs or policies make buckets public"
    return check


def _access_point(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _blocks_off("S3 access point", "publicAccessBlockConfiguration", absent_is_on=True)(props, args)
    yield from _policy_check("S3 access point policy")(props, args)


def _multi_region_access_point(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _blocks_off("S3 multi-region access point", "details", "publicAccessBlock",
                           absent_is_on=True)(props, args)


def _multi_region_policy(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    yield from _policy_check("S3 multi-region access point policy")(get(props, "details"), args)


_GCP_PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_GCP_PUBLIC_PREDEFINED = frozenset({"publicRead", "publicReadWrite", "authenticatedRead"})


def _gcp_member(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        member = get(props, "member")
        if member in _GCP_PUBLIC_MEMBERS:
            yield f"{what} grants {get(props, 'role')} to {member}"
    return check


def _gcp_binding(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        public = sorted(_GCP_PUBLIC_MEMBERS & {m for m in items(get(props, "members")) if isinstance(m, str)})
        if public:
            yield f"{what} grants {get(props, 'role')} to {', '.join(public)}"
    return check


def _gcp_policy(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        document = json_document(get(props, "policyData"))
        if not isinstance(document, dict):
            return
        for binding in _listed(document.get("bindings") or []):
            if not isinstance(binding, dict):
                continue
            public = sorted(_GCP_PUBLIC_MEMBERS & set(m for m in _listed(binding.get("members") or [])
                                                      if isinstance(m, str)))
            if public:
                yield f"{what} grants {binding.get('role')} to {', '.join(public)}"
    return check


def _gcp_iam(what: str, prefix: str) -> dict[str, Check]:
    """The member, binding and policy resources of one GCP IAM-enabled resource, e.g. ``gcp:kms/cryptoKeyIAM``."""
    package, kind = prefix.split("/")
    title = kind[0].upper() + kind[1:]
    return {f"{package}/{kind}Member:{title}Member": _gcp_member(what),
            f"{package}/{kind}Binding:{title}Binding": _gcp_binding(what),
            f"{package}/{kind}Policy:{title}Policy": _gcp_policy(what)}


def _gcs_entity(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        entity = get(props, "entity")
        if entity in _GCP_PUBLIC_MEMBERS:
            yield f"{what} gives {get(props, 'role')} to {entity}"
    return check


def _gcs_acl(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        for prop in ("predefinedAcl", "defaultAcl"):  # defaultAcl names a predefined ACL for new objects
            predefined = get(props, prop)
            if predefined in _GCP_PUBLIC_PREDEFINED:
                yield f"{what} applies the predefined ACL {predefined!r} ({prop})"
        for entry in items(get(props, "roleEntities")):
            if isinstance(entry, str) and entry.rpartition(":")[2] in _GCP_PUBLIC_MEMBERS:
                yield f"{what} gives {entry.partition(':')[0]} to {entry.rpartition(':')[2]}"
    return check


def _azure_container(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    access = get(props, "publicAccess")
    if access not in (None, "None", UNKNOWN):
        yield f"blob container allows anonymous read access (publicAccess {access!r}); set it to 'None'"


def _exists(message: str) -> Check:
    def check(_props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        yield message
    return check


# --- storage --------------------------------------------------------------------------------------------------------

S3 = "aws:s3/"
STORAGE_CHECKS: dict[str, Check] = {
    f"{S3}bucket:Bucket": _s3_bucket,
    f"{S3}bucketV2:BucketV2": _s3_bucket,
    f"{S3}bucketAcl:BucketAcl": _s3_bucket_acl,
    f"{S3}bucketAclV2:BucketAclV2": _s3_bucket_acl,
    f"{S3}bucketPolicy:BucketPolicy": _policy_check("S3 bucket policy"),
    f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock": _blocks_off("S3 bucket public access block"),
    f"{S3}accountPublicAccessBlock:AccountPublicAccessBlock": _blocks_off("S3 account public access block"),
    f"{S3}bucketObject:BucketObject": _s3_acl_check("S3 object", None),
    f"{S3}bucketObjectv2:BucketObjectv2": _s3_acl_check("S3 object", None),
    f"{S3}objectCopy:ObjectCopy": _s3_acl_check("S3 object copy"),
    f"{S3}accessPoint:AccessPoint": _access_point,
    f"{S3}vectorsVectorBucketPolicy:VectorsVectorBucketPolicy": _policy_check("S3 vector bucket policy"),
    f"{S3}filesFileSystemPolicy:FilesFileSystemPolicy": _policy_check("S3 Files file system policy"),
    "aws:s3control/accessPointPolicy:AccessPointPolicy": _policy_check("S3 access point policy"),
    "aws:s3control/bucketPolicy:BucketPolicy": _policy_check("S3 on Outposts bucket policy"),
    "aws:s3control/objectLambdaAccessPointPolicy:ObjectLambdaAccessPointPolicy":
        _policy_check("S3 Object Lambda access point policy"),
    "aws:s3control/accessGrantsInstanceResourcePolicy:AccessGrantsInstanceResourcePolicy":
        _policy_check("S3 Access Grants instance policy"),
    "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint": _multi_region_access_point,
    "aws:s3control/multiRegionAccessPointPolicy:MultiRegionAccessPointPolicy": _multi_region_policy,
    "aws:s3tables/tableBucketPolicy:TableBucketPolicy": _policy_check("S3 table bucket policy", "resourcePolicy"),
    "aws:s3tables/tablePolicy:TablePolicy": _policy_check("S3 table policy", "resourcePolicy"),
    **{f"gcp:{t}": c for t, c in _gcp_iam("GCS bucket IAM", "storage/bucketIAM").items()},
    **{f"gcp:{t}": c for t, c in _gcp_iam("GCS managed folder IAM", "storage/managedFolderIam").items()},
    "gcp:storage/bucketACL:BucketACL": _gcs_acl("GCS bucket ACL"),
    "gcp:storage/objectACL:ObjectACL": _gcs_acl("GCS object ACL"),
    "gcp:storage/defaultObjectACL:DefaultObjectACL": _gcs_acl("GCS default object ACL"),
    "gcp:storage/bucketAccessControl:BucketAccessControl": _gcs_entity("GCS bucket access control"),
    "gcp:storage/objectAccessControl:ObjectAccessControl": _gcs_entity("GCS object access control"),
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl":
        _gcs_entity("GCS default object access control"),
    "azure-native:storage:BlobContainer": _azure_container,
    "azure-native:storage:StorageAccountStaticWebsite": _exists(
        "static website serves the account's $web container to anyone; allow-list it in allowedPublicResources "
        "if that is intended"),
}

STORAGE_GRANTS = resource_rule(
    name="storage-no-public-grants",
    description="No ACL, IAM grant, resource policy, public access block or container setting opens objects to "
                "everyone or to every account, wherever the bucket it applies to is defined.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_AWS, "2.1.4"), cis(*CIS_GCP, "5.1"), nist("AC-3"), nist("AC-14"), pci("1.4.4"),
              iso("A.8.3")],
    validate=_allow_listed(STORAGE_CHECKS),
    config_schema=_ALLOW_SCHEMA,
    applies_to=tuple(STORAGE_CHECKS),
    remediation_steps="Grant named principals only: no public canned ACLs or AllUsers/AuthenticatedUsers grants, "
                      "no Principal \"*\" without an account/organisation/VPC condition, all four public access "
                      "blocks on, no allUsers/allAuthenticatedUsers members, blob containers with publicAccess None.",
)


# --- databases ------------------------------------------------------------------------------------------------------

def _shared_publicly(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        if "all" in items(get(props, "sharedAccounts")):
            yield f"{what} is shared with all AWS accounts (sharedAccounts 'all'), so anyone can restore it"
    return check


def _publicly_accessible(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        if get(props, "publiclyAccessible") is True:
            yield f"{what} is publicly accessible; set publiclyAccessible false"
    return check


_WIDEST_FIREWALL_RANGE = 2 ** 16
"""Addresses a database firewall rule may admit: a /16, the widest range one private network plausibly needs."""


def _firewall_rule(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    start, end = get(props, "startIpAddress"), get(props, "endIpAddress")
    if not isinstance(start, str) or not isinstance(end, str):
        return
    try:
        first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
    except ValueError:
        return
    if int(first) == int(last) == 0:
        yield "firewall rule 0.0.0.0-0.0.0.0 admits every Azure service of every tenant"
    elif int(last) - int(first) + 1 > _WIDEST_FIREWALL_RANGE:
        yield f"firewall rule {start}-{end} admits {int(last) - int(first) + 1:,} addresses (more than a /16)"


DATABASE_CHECKS: dict[str, Check] = {
    "aws:rds/snapshot:Snapshot": _shared_publicly("RDS snapshot"),
    "aws:rds/snapshotCopy:SnapshotCopy": _shared_publicly("RDS snapshot copy"),
    "aws:rds/clusterSnapshot:ClusterSnapshot": _shared_publicly("RDS cluster snapshot"),
    "aws:rds/clusterSnapshotCopy:ClusterSnapshotCopy": _shared_publicly("RDS cluster snapshot copy"),
    "aws:rds/cluster:Cluster": _publicly_accessible("RDS cluster"),
    "aws:rds/clusterInstance:ClusterInstance": _publicly_accessible("RDS cluster instance"),
    "azure-native:dbforpostgresql:FirewallRule": _firewall_rule,
    "azure-native:dbforpostgresql:SingleServerFirewallRule": _firewall_rule,
    "azure-native:dbforpostgresql:ServerGroupFirewallRule": _firewall_rule,
}

DATABASE_EXPOSURE = resource_rule(
    name="database-no-public-exposure",
    description="No snapshot is shared with every account, no cluster member is publicly accessible and no firewall "
                "rule admits the internet at large, wherever the database server itself is defined.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), nist("AC-3"), pci("1.4.4"), iso("A.8.20")],
    validate=_allow_listed(DATABASE_CHECKS),
    config_schema=_ALLOW_SCHEMA,
    applies_to=tuple(DATABASE_CHECKS),
    remediation_steps="Share snapshots with named accounts only, keep cluster members private, and write firewall "
                      "rules for the client networks (or use private access).",
)


# --- registries -----------------------------------------------------------------------------------------------------

def _network_open(what: str, access: Any, default_action: Any) -> Iterator[str]:
    if access is UNKNOWN or default_action is UNKNOWN:
        return
    if access != "Disabled" and default_action != "Deny":
        yield (f"{what} is reachable from any network; set publicNetworkAccess Disabled or the network rules' "
               f"defaultAction Deny")


def _acr(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "anonymousPullEnabled") is True:
        yield "container registry allows anonymous pulls; set anonymousPullEnabled false"
    yield from _network_open("container registry", get(props, "publicNetworkAccess"),
                             get(props, "networkRuleSet", "defaultAction"))


REGISTRY_CHECKS: dict[str, Check] = {
    "aws:ecr/repositoryPolicy:RepositoryPolicy": _policy_check("ECR repository policy"),
    "aws:ecr/registryPolicy:RegistryPolicy": _policy_check("ECR registry policy"),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate":
        _policy_check("ECR repository creation template", "repositoryPolicy"),
    "aws:ecrpublic/repository:Repository": _exists(
        "ECR Public repository: every image in it can be pulled by anyone; allow-list it in allowedPublicResources "
        "if that is intended"),
    "aws:ecrpublic/repositoryPolicy:RepositoryPolicy": _policy_check("ECR Public repository policy"),
    **{f"gcp:{t}": c for t, c in _gcp_iam("Artifact Registry repository IAM",
                                          "artifactregistry/repositoryIam").items()},
    "azure-native:containerregistry:Registry": _acr,
}

REGISTRY_ACCESS = resource_rule(
    name="registry-no-public-access",
    description="Image registries neither serve images to anonymous or arbitrary callers nor accept pushes from "
                "them, so model images and their baked-in code stay private and cannot be replaced.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-3"), nist("AC-14"), nist("SC-7"), iso("A.8.3")],
    validate=_allow_listed(REGISTRY_CHECKS),
    config_schema=_ALLOW_SCHEMA,
    applies_to=tuple(REGISTRY_CHECKS),
    remediation_steps="Grant named principals only (no Principal \"*\", no allUsers/allAuthenticatedUsers); keep "
                      "ACR anonymous pull off and its public network access disabled or default-deny.",
)


# --- keys -----------------------------------------------------------------------------------------------------------

def _vault(what: str) -> Check:
    def check(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        yield from _network_open(what, get(props, "properties", "publicNetworkAccess"),
                                 get(props, "properties", "networkAcls", "defaultAction"))
    return check


KEY_CHECKS: dict[str, Check] = {
    "aws:kms/key:Key": _policy_check("KMS key policy"),
    "aws:kms/keyPolicy:KeyPolicy": _policy_check("KMS key policy"),
    "aws:kms/replicaKey:ReplicaKey": _policy_check("KMS replica key policy"),
    "aws:kms/externalKey:ExternalKey": _policy_check("KMS external key policy"),
    "aws:kms/replicaExternalKey:ReplicaExternalKey": _policy_check("KMS replica external key policy"),
    **{f"gcp:{t}": c for t, c in _gcp_iam("Cloud KMS key IAM", "kms/cryptoKeyIAM").items()},
    **{f"gcp:{t}": c for t, c in _gcp_iam("Cloud KMS key ring IAM", "kms/keyRingIAM").items()},
    **{f"gcp:{t}": c for t, c in _gcp_iam("Cloud KMS EKM connection IAM", "kms/ekmConnectionIam").items()},
    "azure-native:keyvault:Vault": _vault("key vault"),
    "azure-native:keyvault:ManagedHsm": _vault("managed HSM"),
}

KEY_ACCESS = resource_rule(
    name="key-no-public-access",
    description="Encryption keys are usable only by named principals from expected networks: no key policy or IAM "
                "grant names everyone, and no key vault is open to every network.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-12"), nist("AC-3"), iso("A.8.24")],
    validate=_allow_listed(KEY_CHECKS),
    config_schema=_ALLOW_SCHEMA,
    applies_to=tuple(KEY_CHECKS),
    remediation_steps="Key policies name the account and roles that use the key (or limit \"*\" with "
                      "kms:CallerAccount); no allUsers/allAuthenticatedUsers on Cloud KMS; Key Vault and Managed HSM "
                      "with public network access disabled or network ACLs defaulting to Deny.",
)


# --- Kubernetes RBAC --------------------------------------------------------------------------------------------------

_ANONYMOUS_SUBJECTS = {("User", "system:anonymous"), ("Group", "system:unauthenticated"),
                       ("Group", "system:authenticated")}


def _anonymous_binding(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for subject in items(get(props, "subjects")):
        key = (get(subject, "kind"), get(subject, "name"))
        if key in _ANONYMOUS_SUBJECTS:
            yield (f"binds {get(props, 'roleRef', 'kind')} {get(props, 'roleRef', 'name')} to {key[0]} {key[1]}: "
                   f"anyone who reaches the API server gets it")


RBAC_TYPES = ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
              "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")

ANONYMOUS_RBAC = resource_rule(
    name="k8s-no-anonymous-rbac",
    description="No RoleBinding or ClusterRoleBinding grants a role to system:anonymous, system:unauthenticated or "
                "system:authenticated, which would give it to anyone who reaches the API server.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-14"), nist("AC-6"), iso("A.5.15")],
    validate=_allow_listed({t: _anonymous_binding for t in RBAC_TYPES}),
    config_schema=_ALLOW_SCHEMA,
    applies_to=RBAC_TYPES,
    remediation_steps="Bind roles to named users, groups or service accounts.",
)

POLICIES = [STORAGE_GRANTS, DATABASE_EXPOSURE, REGISTRY_ACCESS, KEY_ACCESS, ANONYMOUS_RBAC]
