"""The AWS artifact store: private, encrypted, versioned, TLS-only, ownership enforced, lifecycle, protected."""

from __future__ import annotations

import json
from unittest.mock import ANY

import pulumi
import pytest

from mlops_platform.aws.artifact_store import ArtifactStore, validate_artifact_store_args
from mlops_platform.platform import MlopsPlatform
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.config import load_stack_config
from mlops_platform_offline.harness import ProgramError, run_function

KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def store_preview(**args):
    return run_function(lambda: ArtifactStore("store", {"name_prefix": "models-", **args}))


BUCKETS = ["mlops-artifacts", "mlops-artifacts-access-logs"]
"""The artifact bucket and its access-log bucket, hardened alike."""


@pytest.mark.parametrize("bucket", BUCKETS)
def test_bucket_is_private_with_all_four_public_access_blocks(preview, bucket):
    block = preview("aws-dev").one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{bucket}-public-access")
    assert block.inputs == {"bucket": ANY, "blockPublicAcls": True, "blockPublicPolicy": True,
                            "ignorePublicAcls": True, "restrictPublicBuckets": True}


@pytest.mark.parametrize("bucket", BUCKETS)
def test_bucket_is_protected_and_cannot_be_force_destroyed(preview, bucket):
    resource = preview("aws-dev").one("aws:s3/bucket:Bucket", f"{bucket}-bucket")
    assert resource.protect
    assert resource.inputs["forceDestroy"] is False


def test_objects_are_encrypted_with_the_stores_own_kms_key_by_default(preview):
    plan = preview("aws-dev")
    key = plan.one("aws:kms/key:Key", "mlops-artifacts-key")
    rule = plan.one(ENCRYPTION, "mlops-artifacts-encryption").inputs["rules"][0]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                                           "kmsMasterKeyId": key.outputs["arn"]},
                    "bucketKeyEnabled": True}
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert statements["UseThroughTheServicesOnly"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "s3.eu-west-1.amazonaws.com"]
    # S3 server access logging delivers only to SSE-S3 buckets, so the log bucket keeps S3-managed keys.
    assert plan.one(ENCRYPTION, "mlops-artifacts-access-logs-encryption").inputs["rules"][0] == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}


def test_a_customer_managed_key_encrypts_with_kms_and_a_bucket_key():
    plan = store_preview(kms_key_arn=KMS_KEY)
    assert plan.one(ENCRYPTION, "store-encryption").inputs["rules"][0] == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KMS_KEY},
        "bucketKeyEnabled": True}
    # S3 server access logging delivers only to SSE-S3 buckets, so the log bucket keeps S3-managed keys.
    assert plan.one(ENCRYPTION, "store-access-logs-encryption").inputs["rules"][0] == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}


@pytest.mark.parametrize("bucket", BUCKETS)
def test_versioning_is_enabled_and_acls_are_off(preview, bucket):
    plan = preview("aws-dev")
    assert plan.one("aws:s3/bucketVersioning:BucketVersioning", f"{bucket}-versioning").inputs[
        "versioningConfiguration"] == {"status": "Enabled"}
    assert plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", f"{bucket}-ownership").inputs[
        "rule"] == {"objectOwnership": "BucketOwnerEnforced"}


@pytest.mark.parametrize("bucket", BUCKETS)
def test_the_bucket_policy_denies_requests_without_tls_1_2(preview, bucket):
    plan = preview("aws-dev")
    bucket_arn = plan.one("aws:s3/bucket:Bucket", f"{bucket}-bucket").outputs["arn"]
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", f"{bucket}-tls-only").inputs["policy"])
    denials = {s["Sid"]: (s["Principal"], s["Action"], s["Resource"], s["Condition"])
               for s in policy["Statement"] if s["Effect"] == "Deny"}
    resources = [bucket_arn, f"{bucket_arn}/*"]
    assert denials == {
        "DenyInsecureTransport": ("*", "s3:*", resources, {"Bool": {"aws:SecureTransport": "false"}}),
        "DenyOutdatedTls": ("*", "s3:*", resources, {"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    }


@pytest.mark.parametrize("bucket", BUCKETS)
def test_the_bucket_policy_waits_for_the_public_access_block(preview, bucket):
    plan = preview("aws-dev")
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{bucket}-public-access")
    assert block.urn in plan.one("aws:s3/bucketPolicy:BucketPolicy", f"{bucket}-tls-only").dependencies


def test_the_artifact_bucket_grants_nothing(preview):
    policy = json.loads(preview("aws-dev").one("aws:s3/bucketPolicy:BucketPolicy", "mlops-artifacts-tls-only")
                        .inputs["policy"])
    assert {statement["Effect"] for statement in policy["Statement"]} == {"Deny"}


def test_access_logs_go_to_the_log_bucket_under_their_prefix(preview):
    plan = preview("aws-dev")
    logging = plan.one("aws:s3/bucketLogging:BucketLogging").inputs
    assert logging["bucket"] == plan.one("aws:s3/bucket:Bucket", "mlops-artifacts-bucket").outputs["id"]
    assert logging["targetBucket"] == plan.one("aws:s3/bucket:Bucket", "mlops-artifacts-access-logs-bucket").outputs["id"]
    assert logging["targetPrefix"] == "s3-access/"


def test_only_the_s3_logging_service_may_write_and_only_this_buckets_logs(preview):
    plan = preview("aws-dev")
    source_arn = plan.one("aws:s3/bucket:Bucket", "mlops-artifacts-bucket").outputs["arn"]
    log_arn = plan.one("aws:s3/bucket:Bucket", "mlops-artifacts-access-logs-bucket").outputs["arn"]
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", "mlops-artifacts-access-logs-tls-only")
                        .inputs["policy"])
    [allow] = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
    assert allow == {
        "Sid": "AllowServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_arn}/s3-access/*",
        "Condition": {"ArnLike": {"aws:SourceArn": source_arn}, "StringEquals": {"aws:SourceAccount": "123456789012"}},
    }


def test_access_logs_expire_after_the_configured_days():
    rules = store_preview(access_log_days=90).one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "store-access-logs-lifecycle"
    ).inputs["rules"]
    assert {rule["id"]: rule.get("expiration") for rule in rules}["expire-logs"] == {"days": 90}


def test_the_stack_config_reaches_the_access_logs():
    config = {"mlops:cloud": "aws", "mlops:region": "eu-west-1",
              "mlops:tags": json.dumps({"environment": "dev", "project": "mlops"}),
              "mlops:artifacts": json.dumps({"access_logging": False}),
              "mlops:images": json.dumps({"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"})}
    args = load_stack_config(config, default_name="mlops-dev").args
    plan = run_function(lambda: MlopsPlatform("mlops", args))
    assert plan.all("aws:s3/bucketLogging:BucketLogging") == []


def test_access_logging_is_an_explicit_opt_out():
    plan = store_preview(access_logging=False)
    assert [bucket.name for bucket in plan.all("aws:s3/bucket:Bucket")] == ["store-bucket"]
    assert plan.all("aws:s3/bucketLogging:BucketLogging") == []


def test_lifecycle_expires_old_versions_and_aborts_incomplete_uploads():
    rules = store_preview(noncurrent_days=14, incomplete_upload_days=3).one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "store-lifecycle").inputs["rules"]
    by_id = {rule["id"]: rule for rule in rules}
    assert by_id["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    assert by_id["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 3}
    assert all(rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""} for rule in rules)


def test_outputs_name_the_bucket_and_its_s3_uri():
    outputs = run_function(lambda: _export(ArtifactStore("store", {"name_prefix": "models-"}))).outputs
    assert outputs["uri"] == f"s3://{outputs['name']}" and outputs["name"].startswith("models-")
    assert outputs["env"]["AWS_REGION"]


def _export(store: ArtifactStore) -> None:
    import pulumi

    pulumi.export("name", store.name)
    pulumi.export("uri", store.uri)
    pulumi.export("env", store.pod_env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, r"artifact_store\.name_prefix: missing"),
        ({"name_prefix": "Models"}, r"artifact_store\.name_prefix: 'Models' is not allowed"),
        ({"name_prefix": "models-", "noncurrent_days": 0}, r"noncurrent_days: 0 is not allowed; use an integer from 1"),
        ({"name_prefix": "models-", "kms_key_arn": "my-key"}, r"kms_key_arn: 'my-key' is not allowed"),
        ({"name_prefix": "models-", "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:alias/models"},
         r"kms_key_arn: .* aliases cannot be granted"),
        ({"name_prefix": pulumi.Output.from_input("models-")}, r"name_prefix: .* is not allowed; use a plain string"),
        ({"name_prefix": "models-", "public": True}, r"artifact_store\.public: unknown key"),
        ({"name_prefix": "models-", "access_logging": "yes"}, r"access_logging: 'yes' is not allowed; use true or false"),
        ({"name_prefix": "models-", "access_log_days": 0}, r"access_log_days: 0 is not allowed; use an integer from 1"),
    ],
)
def test_bad_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ArgumentError, match=message):
        validate_artifact_store_args(args)
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(lambda: ArtifactStore("store", args))
    assert raised.value.registered == []
