"""The AWS artifact store: private, encrypted, versioned, TLS-only, ownership enforced, lifecycle, protected."""

from __future__ import annotations

import json
from unittest.mock import ANY

import pytest

from components.aws.artifact_store import ArtifactStore, validate_artifact_store_args
from components.validation import ArgumentError
from infra.harness import ProgramError, run_function

KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def store_preview(**args):
    return run_function(lambda: ArtifactStore("store", {"name_prefix": "models-", **args}))


def test_bucket_is_private_with_all_four_public_access_blocks(preview):
    block = preview("aws-dev").one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.inputs == {"bucket": ANY, "blockPublicAcls": True, "blockPublicPolicy": True,
                            "ignorePublicAcls": True, "restrictPublicBuckets": True}


def test_bucket_is_protected_and_cannot_be_force_destroyed(preview):
    bucket = preview("aws-dev").one("aws:s3/bucket:Bucket")
    assert bucket.protect
    assert bucket.inputs["forceDestroy"] is False


def test_objects_are_encrypted_with_s3_managed_keys_by_default(preview):
    rule = preview("aws-dev").one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"][0]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}


def test_a_customer_managed_key_encrypts_with_kms_and_a_bucket_key():
    rule = store_preview(kms_key_arn=KMS_KEY).one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"][0]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KMS_KEY},
                    "bucketKeyEnabled": True}


def test_versioning_is_enabled_and_acls_are_off(preview):
    plan = preview("aws-dev")
    assert plan.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {
        "status": "Enabled"}
    assert plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"}


def test_the_bucket_policy_denies_requests_without_tls_1_2(preview):
    plan = preview("aws-dev")
    bucket_arn = plan.one("aws:s3/bucket:Bucket").outputs["arn"]
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    conditions = {s["Sid"]: (s["Effect"], s["Principal"], s["Action"], s["Resource"], s["Condition"])
                  for s in policy["Statement"]}
    resources = [bucket_arn, f"{bucket_arn}/*"]
    assert conditions == {
        "DenyInsecureTransport": ("Deny", "*", "s3:*", resources, {"Bool": {"aws:SecureTransport": "false"}}),
        "DenyOutdatedTls": ("Deny", "*", "s3:*", resources, {"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    }


def test_the_bucket_policy_waits_for_the_public_access_block(preview):
    plan = preview("aws-dev")
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.urn in plan.one("aws:s3/bucketPolicy:BucketPolicy").dependencies


def test_lifecycle_expires_old_versions_and_aborts_incomplete_uploads():
    rules = store_preview(noncurrent_days=14, incomplete_upload_days=3).one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
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
        ({"name_prefix": "models-", "public": True}, r"artifact_store\.public: unknown key"),
    ],
)
def test_bad_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ArgumentError, match=message):
        validate_artifact_store_args(args)
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(lambda: ArtifactStore("store", args))
    assert raised.value.registered == []
