"""Storage rules for S3, GCS and Azure Storage: what protects the model artifacts and training data.

On AWS a bucket's settings are separate resources (public access block, encryption, versioning, logging,
ownership, lifecycle, policy), so the S3 half of each rule is a stack rule that looks for the setting resource that
refers to the bucket. GCS buckets and Azure storage accounts carry their settings themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity, StackValidationArgs

from .resources import UNKNOWN, get, items, json_document, of_types, referring, undecided_links
from .rule import CIS_AWS, CIS_GCP, cis, iso, nist, pci, stack_rule

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
S3_BUCKETS = frozenset({S3_BUCKET, S3_BUCKET_V2})
S3_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = frozenset({
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
})
S3_VERSIONING = frozenset({"aws:s3/bucketVersioning:BucketVersioning",
                           "aws:s3/bucketVersioningV2:BucketVersioningV2"})
S3_LOGGING = frozenset({"aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"})
S3_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
S3_LIFECYCLE = frozenset({"aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                          "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"})
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
AZURE_ACCOUNT = "azure-native:storage:StorageAccount"
AZURE_BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
AZURE_MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy"
AZURE_DIAGNOSTICS = frozenset({"azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting"})
"""Azure Native 3 calls the module ``monitor``; 2.x called it ``insights``."""

_STORAGE = [S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET, AZURE_ACCOUNT]
_STORAGE_CLOUDS = {S3_BUCKET: "s3", S3_BUCKET_V2: "s3", GCS_BUCKET: "gcs", AZURE_ACCOUNT: "azure"}

Report = Callable[..., None]


def _buckets(args: StackValidationArgs) -> Iterator[tuple[Any, str]]:
    """Every storage resource with its cloud: ``s3``, ``gcs`` or ``azure``."""
    for resource in of_types(args.resources, _STORAGE_CLOUDS.keys()):
        yield resource, _STORAGE_CLOUDS[resource.resource_type]


class Undecided(Exception):
    """A setting resource exists whose target is unknown during preview: the bucket may well have it."""


def _settings(args: StackValidationArgs, bucket: Any, types: frozenset[str] | set[str],
              prop: str = "bucket") -> list[Any]:
    """The setting resources of ``types`` that refer to ``bucket`` through ``prop``; raises :class:`Undecided`
    when there are none but one of them points somewhere unknown."""
    found = referring(args.resources, types, prop, bucket)
    if not found and undecided_links(args.resources, types, prop):
        raise Undecided
    return found


def _azure_children(args: StackValidationArgs, account: Any, types: set[str]) -> list[Any]:
    return _settings(args, account, types, "accountName")


def _each_bucket(check):
    """Run ``check(args, bucket, cloud, report)`` for every storage resource, skipping those it cannot decide."""

    def validate(args: StackValidationArgs, report: Report) -> None:
        for bucket, cloud in _buckets(args):
            try:
                check(args, bucket, cloud, report)
            except Undecided:
                continue

    return validate


# --- no public access ---------------------------------------------------------------------------------------------

_PUBLIC_BLOCKS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _validate_no_public_access_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        blocks = _settings(args, bucket, {S3_PUBLIC_ACCESS})
        if not blocks:
            report("S3 bucket has no BucketPublicAccessBlock; add one with all four blocks true", bucket.urn)
            return
        off = [flag for flag in _PUBLIC_BLOCKS if get(blocks[0].props, flag) not in (True, UNKNOWN)]
        if off:
            report(f"S3 public access block leaves {', '.join(off)} off; set all four to true", bucket.urn)
    elif cloud == "gcs":
        prevention = get(bucket.props, "publicAccessPrevention")
        if prevention not in ("enforced", UNKNOWN):
            report(f"GCS bucket publicAccessPrevention is {prevention!r}; set it to 'enforced'", bucket.urn)
    else:
        public_blob = get(bucket.props, "allowBlobPublicAccess")
        if public_blob is not False and public_blob is not UNKNOWN:
            report("storage account allows public blob access; set allowBlobPublicAccess to false", bucket.urn)
        network = get(bucket.props, "publicNetworkAccess")
        if network == "Enabled" and get(bucket.props, "networkRuleSet", "defaultAction") not in ("Deny", UNKNOWN):
            report("storage account is reachable from any network; set publicNetworkAccess to Disabled or "
                   "networkRuleSet.defaultAction to Deny", bucket.urn)


NO_PUBLIC_ACCESS = stack_rule(
    name="storage-no-public-access",
    description="Buckets and storage accounts block every form of public access, so model artifacts and training "
                "data cannot leak through one mistaken ACL or policy.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_AWS, "2.1.4"), cis(*CIS_GCP, "5.1"), nist("AC-3"), nist("SC-7"), pci("1.4.4"), iso("A.8.3")],
    validate=_each_bucket(_validate_no_public_access_one),
    applies_to=_STORAGE,
    remediation_steps="S3: add a BucketPublicAccessBlock with all four blocks true. GCS: publicAccessPrevention "
                      "'enforced'. Azure: allowBlobPublicAccess false and no public network access.",
)


# --- encryption at rest -------------------------------------------------------------------------------------------

_CMK_SCHEMA = PolicyConfigSchema(properties={
    "requireCustomerManagedKey": {
        "type": "boolean", "default": False,
        "description": "Require a customer-managed key (KMS / Cloud KMS / Key Vault) instead of the cloud's own key.",
    },
})


def _validate_encryption_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    cmk = bool(args.get_config().get("requireCustomerManagedKey"))
    if cloud == "s3":
        configs = _settings(args, bucket, S3_ENCRYPTION)
        if not configs:
            report("S3 bucket has no server-side encryption configuration", bucket.urn)
            return
        rule = get(configs[0].props, "rules", 0, "applyServerSideEncryptionByDefault")
        algorithm = get(rule, "sseAlgorithm")
        if algorithm is UNKNOWN:
            return
        if algorithm not in ("AES256", "aws:kms", "aws:kms:dsse"):
            report(f"S3 default encryption algorithm is {algorithm!r}; use AES256 or aws:kms", bucket.urn)
        elif cmk and (algorithm == "AES256" or not get(rule, "kmsMasterKeyId")):
            report("S3 bucket is not encrypted with a customer-managed KMS key (kmsMasterKeyId)", bucket.urn)
    elif cloud == "gcs":
        if cmk and get(bucket.props, "encryption", "defaultKmsKeyName") is None:
            report("GCS bucket has no customer-managed key (encryption.defaultKmsKeyName)", bucket.urn)
    else:
        if get(bucket.props, "encryption", "services", "blob", "enabled") is False:
            report("storage account disables blob encryption", bucket.urn)
        source = get(bucket.props, "encryption", "keySource")
        if cmk and source not in ("Microsoft.Keyvault", UNKNOWN):
            report(f"storage account keySource is {source!r}; use Microsoft.Keyvault (customer-managed)",
                   bucket.urn)


ENCRYPTION = stack_rule(
    name="storage-encryption-at-rest",
    description="Buckets and storage accounts encrypt every object at rest (optionally with a customer-managed key), "
                "so a lost disk or snapshot exposes nothing.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-28"), nist("SC-12"), pci("3.5.1"), iso("A.8.24")],
    validate=_each_bucket(_validate_encryption_one),
    config_schema=_CMK_SCHEMA,
    applies_to=_STORAGE,
    remediation_steps="S3: add a BucketServerSideEncryptionConfiguration (aws:kms with a key when configured). "
                      "GCS/Azure: set the customer-managed key when requireCustomerManagedKey is on.",
)


# --- TLS only -----------------------------------------------------------------------------------------------------

def denies_insecure_transport(policy: Any) -> bool | Any:
    """Whether an S3 bucket policy denies every request made without TLS; UNKNOWN when the policy is unknown."""
    document = json_document(policy)
    if document is UNKNOWN:
        return UNKNOWN
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if str(secure).lower() == "false" and statement.get("Principal") in ("*", {"AWS": "*"}):
            return True
    return False


def _validate_tls_only_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        verdicts = [denies_insecure_transport(get(p.props, "policy")) for p in _settings(args, bucket, {S3_POLICY})]
        if UNKNOWN not in verdicts and True not in verdicts:
            report("no bucket policy denies requests without TLS (aws:SecureTransport = false)", bucket.urn)
    elif cloud == "azure":
        if get(bucket.props, "enableHttpsTrafficOnly") is False:
            report("storage account accepts plain HTTP; set enableHttpsTrafficOnly to true", bucket.urn)
        version = get(bucket.props, "minimumTlsVersion")
        if version not in ("TLS1_2", "TLS1_3", UNKNOWN):
            report(f"storage account minimumTlsVersion is {version!r}; set TLS1_2", bucket.urn)
    # GCS serves its JSON and XML APIs over HTTPS only: nothing to configure.


TLS_ONLY = stack_rule(
    name="storage-tls-only",
    description="Storage refuses requests without TLS 1.2+, so credentials and model files never cross a network in "
                "clear text.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_AWS, "2.1.1"), nist("SC-8"), pci("4.2.1"), iso("A.8.24")],
    validate=_each_bucket(_validate_tls_only_one),
    applies_to=[S3_BUCKET, S3_BUCKET_V2, AZURE_ACCOUNT],
    remediation_steps="S3: a BucketPolicy that denies s3:* when aws:SecureTransport is false. Azure: "
                      "enableHttpsTrafficOnly true and minimumTlsVersion TLS1_2.",
)


# --- versioning or soft delete ------------------------------------------------------------------------------------

def _validate_versioning_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        configs = _settings(args, bucket, S3_VERSIONING)
        status = get(configs[0].props, "versioningConfiguration", "status") if configs else None
        inline = get(bucket.props, "versioning", "enabled")
        if status not in ("Enabled", UNKNOWN) and inline not in (True, UNKNOWN):
            report("S3 bucket versioning is not enabled; add a BucketVersioning with status Enabled", bucket.urn)
    elif cloud == "gcs":
        versioned = get(bucket.props, "versioning", "enabled")
        soft_delete = get(bucket.props, "softDeletePolicy", "retentionDurationSeconds")
        if versioned in (True, UNKNOWN) or soft_delete is UNKNOWN:
            return
        if soft_delete == 0:  # absent means GCS's default 7-day soft delete
            report("GCS bucket has neither object versioning nor soft delete", bucket.urn)
    else:
        services = _azure_children(args, bucket, {AZURE_BLOB_SERVICE})
        protected = [s for s in services if get(s.props, "isVersioningEnabled") in (True, UNKNOWN)
                     or get(s.props, "deleteRetentionPolicy", "enabled") in (True, UNKNOWN)]
        if not protected:
            report("storage account has no BlobServiceProperties with versioning or blob soft delete", bucket.urn)


VERSIONING = stack_rule(
    name="storage-versioning",
    description="Buckets keep replaced and deleted objects (versioning or soft delete), so a bad upload or a deleted "
                "model can be recovered.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CP-9"), nist("SI-12"), iso("A.8.13")],
    validate=_each_bucket(_validate_versioning_one),
    applies_to=_STORAGE,
    remediation_steps="S3: BucketVersioning Enabled. GCS: versioning.enabled or a soft delete policy. Azure: "
                      "BlobServiceProperties with isVersioningEnabled or deleteRetentionPolicy.",
)


# --- access logging -----------------------------------------------------------------------------------------------

def _validate_access_logging_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        # A log bucket's own access is not logged into itself (that would loop); it is the target of another's.
        is_log_bucket = bool(referring(args.resources, S3_LOGGING, "targetBucket", bucket))
        if not _settings(args, bucket, S3_LOGGING) and not is_log_bucket:
            report("S3 bucket has no server access logging (BucketLogging)", bucket.urn)
    elif cloud == "gcs":
        if get(bucket.props, "logging", "logBucket") is None and not is_gcs_log_bucket(args, bucket):
            report("GCS bucket has no usage logging (logging.logBucket)", bucket.urn)
    else:
        settings = _settings(args, bucket, AZURE_DIAGNOSTICS, "resourceUri")
        if not settings:
            report("storage account has no diagnostic setting sending its logs anywhere", bucket.urn)


def is_gcs_log_bucket(args: StackValidationArgs, bucket: Any) -> bool:
    """Whether another GCS bucket of the stack delivers its usage logs to ``bucket`` (``logging.logBucket`` names
    it, or depends on it when the name is generated): a log bucket does not log into itself."""
    names = {get(bucket.props, "name"), bucket.name} - {None, UNKNOWN}
    for other in of_types(args.resources, {GCS_BUCKET}):
        if other.urn == bucket.urn:
            continue
        if any(dependency.urn == bucket.urn for dependency in other.property_dependencies.get("logging") or ()):
            return True
        if get(other.props, "logging", "logBucket") in names:
            return True
    return False


ACCESS_LOGGING = stack_rule(
    name="storage-access-logging",
    description="Every read and write of a bucket is logged, so an auditor can tell who fetched a model or dataset.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.ADVISORY,
    controls=[nist("AU-2"), nist("AU-12"), pci("10.2.1"), iso("A.8.15")],
    validate=_each_bucket(_validate_access_logging_one),
    applies_to=_STORAGE,
    remediation_steps="S3: a BucketLogging to a log bucket (or CloudTrail S3 data events). GCS: logging.logBucket. "
                      "Azure: a DiagnosticSetting on the account's blob service.",
)


# --- uniform access / ownership enforced --------------------------------------------------------------------------

def _validate_ownership_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        controls = _settings(args, bucket, {S3_OWNERSHIP})
        ownership = get(controls[0].props, "rule", "objectOwnership") if controls else None
        if ownership not in ("BucketOwnerEnforced", UNKNOWN):
            report(f"S3 object ownership is {ownership!r}; use BucketOwnerEnforced (ACLs off)", bucket.urn)
    elif cloud == "gcs":
        if get(bucket.props, "uniformBucketLevelAccess") not in (True, UNKNOWN):
            report("GCS bucket does not enforce uniform bucket-level access", bucket.urn)
    else:
        if get(bucket.props, "allowSharedKeyAccess") not in (False, UNKNOWN):
            report("storage account allows shared-key access; set allowSharedKeyAccess to false so every "
                   "request is authorised by Entra ID", bucket.urn)


OWNERSHIP = stack_rule(
    name="storage-uniform-access",
    description="Access to objects is decided by IAM alone (no per-object ACLs, no shared keys), so one policy says "
                "who can read the artifacts.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_GCP, "5.2"), nist("AC-3"), nist("AC-6"), iso("A.5.15")],
    validate=_each_bucket(_validate_ownership_one),
    applies_to=_STORAGE,
    remediation_steps="S3: BucketOwnershipControls with BucketOwnerEnforced. GCS: uniformBucketLevelAccess true. "
                      "Azure: allowSharedKeyAccess false.",
)


# --- lifecycle rules ----------------------------------------------------------------------------------------------

def _validate_lifecycle_one(args: StackValidationArgs, bucket: Any, cloud: str, report: Report) -> None:
    if cloud == "s3":
        configs = _settings(args, bucket, S3_LIFECYCLE)
        rules = items(get(configs[0].props, "rules")) if configs else []
        if configs and get(configs[0].props, "rules") is UNKNOWN:
            return
        if not any(get(rule, "status") in ("Enabled", UNKNOWN) for rule in rules):
            report("S3 bucket has no enabled lifecycle rule; old versions and failed uploads are kept forever",
                   bucket.urn)
    elif cloud == "gcs":
        if get(bucket.props, "lifecycleRules") is not UNKNOWN and not items(get(bucket.props, "lifecycleRules")):
            report("GCS bucket has no lifecycle rules", bucket.urn)
    else:
        if not _azure_children(args, bucket, {AZURE_MANAGEMENT_POLICY}):
            report("storage account has no ManagementPolicy (lifecycle rules)", bucket.urn)


LIFECYCLE = stack_rule(
    name="storage-lifecycle-rules",
    description="Buckets expire what nobody needs (old versions, unfinished uploads), so storage cost does not grow "
                "without bound and retention is a decision, not an accident.",
    severity=Severity.LOW,
    level=EnforcementLevel.ADVISORY,
    controls=[nist("SI-12"), iso("A.8.10")],
    validate=_each_bucket(_validate_lifecycle_one),
    applies_to=_STORAGE,
    remediation_steps="Add lifecycle rules: expire noncurrent versions and abort incomplete multipart uploads.",
)

POLICIES = [NO_PUBLIC_ACCESS, ENCRYPTION, TLS_ONLY, VERSIONING, ACCESS_LOGGING, OWNERSHIP, LIFECYCLE]
