"""The GCS artifact store: private, uniform access, versioned, soft-deleting, lifecycle, logged, protected."""

from __future__ import annotations

import pulumi
import pytest

from mlops_platform.gcp.artifact_store import ArtifactStore, validate_artifact_store_args
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.harness import ProgramError, run_function

BUCKET = "gcp:storage/bucket:Bucket"
KEY = "projects/acme-mlops/locations/europe-west1/keyRings/ring/cryptoKeys/artifacts"
BUCKETS = ["mlops-artifacts-bucket", "mlops-artifacts-access-logs-bucket"]
"""The artifact bucket and its usage-log bucket, hardened alike."""


def store_preview(**args):
    return run_function(lambda: ArtifactStore("store", {"name_prefix": "models-", "location": "europe-west1",
                                                        "project": "acme-mlops", **args}))


@pytest.mark.parametrize("bucket", BUCKETS)
def test_buckets_are_private_uniform_versioned_soft_deleting_and_protected(preview, bucket):
    resource = preview("gcp-dev").one(BUCKET, bucket)
    inputs = resource.inputs
    assert resource.protect and inputs["forceDestroy"] is False
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["versioning"] == {"enabled": True}
    assert inputs["softDeletePolicy"] == {"retentionDurationSeconds": 7 * 86400}
    assert inputs["location"] == "EUROPE-WEST1"


def test_the_name_is_the_prefix_and_a_random_suffix_and_the_uri_is_gs(preview):
    plan = preview("gcp-dev")
    name = plan.one(BUCKET, "mlops-artifacts-bucket").outputs["name"]
    assert name.startswith("mlops-gcp-dev-artifacts-") and len(name) == len("mlops-gcp-dev-artifacts-") + 8
    assert plan.outputs["artifact_uri"] == f"gs://{name}"


def test_lifecycle_deletes_old_versions_and_aborts_abandoned_uploads():
    rules = store_preview(noncurrent_days=14, incomplete_upload_days=3).one(BUCKET, "store-bucket").inputs[
        "lifecycleRules"]
    assert rules == [
        {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 14, "withState": "ARCHIVED"}},
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 3}},
    ]


def test_usage_logs_go_to_the_log_bucket_which_only_the_analytics_group_may_write(preview):
    plan = preview("gcp-dev")
    logs = plan.one(BUCKET, "mlops-artifacts-access-logs-bucket")
    assert plan.one(BUCKET, "mlops-artifacts-bucket").inputs["logging"] == {
        "logBucket": logs.outputs["name"], "logObjectPrefix": "gcs-usage/"}
    [writer] = [m for m in plan.all("gcp:storage/bucketIAMMember:BucketIAMMember")
                if m.inputs["bucket"] == logs.outputs["name"]]
    assert (writer.inputs["role"], writer.inputs["member"]) == ("roles/storage.objectCreator",
                                                                "group:cloud-storage-analytics@google.com")
    assert writer.urn in plan.one(BUCKET, "mlops-artifacts-bucket").dependencies
    assert "logging" not in logs.inputs


def test_usage_logs_expire_after_the_configured_days():
    rules = store_preview(access_log_days=90).one(BUCKET, "store-access-logs-bucket").inputs["lifecycleRules"]
    assert {"action": {"type": "Delete"}, "condition": {"age": 90, "withState": "LIVE"}} in rules


def test_access_logging_and_soft_delete_are_explicit_opt_outs():
    plan = store_preview(access_logging=False, soft_delete_days=0)
    [bucket] = plan.all(BUCKET)
    assert "logging" not in bucket.inputs
    assert bucket.inputs["softDeletePolicy"] == {"retentionDurationSeconds": 0}


def test_google_managed_keys_by_default_and_an_existing_key_when_given():
    assert "encryption" not in store_preview().one(BUCKET, "store-bucket").inputs
    plan = store_preview(kms_key_name=KEY)
    assert plan.one(BUCKET, "store-bucket").inputs["encryption"] == {"defaultKmsKeyName": KEY}
    assert plan.all("gcp:kms/cryptoKey:CryptoKey") == []


def test_a_created_key_is_protected_and_the_gcs_agent_may_use_it_before_the_bucket_needs_it():
    plan = store_preview(customer_managed_key=True)
    key = plan.one("gcp:kms/cryptoKey:CryptoKey")
    assert key.protect and key.inputs["rotationPeriod"] == "7776000s"
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["member"].endswith("@gs-project-accounts.iam.gserviceaccount.com")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    bucket = plan.one(BUCKET, "store-bucket")
    assert bucket.inputs["encryption"] == {"defaultKmsKeyName": key.outputs["id"]}
    assert grant.urn in bucket.dependencies


def test_the_store_grants_no_workload_anything(preview):
    plan = preview("gcp-dev")
    artifacts = plan.one(BUCKET, "mlops-artifacts-bucket").outputs["name"]
    grants = [m for m in plan.all("gcp:storage/bucketIAMMember:BucketIAMMember")
              if m.inputs["bucket"] == artifacts and "mlops-artifacts" in m.name]
    assert grants == []


def test_outputs_name_the_bucket_its_gs_uri_and_the_project_env():
    def program():
        store = ArtifactStore("store", {"name_prefix": "models-", "location": "europe-west1",
                                        "project": "acme-mlops"})
        pulumi.export("name", store.name)
        pulumi.export("uri", store.uri)
        pulumi.export("env", store.pod_env)

    outputs = run_function(program).outputs
    assert outputs["uri"] == f"gs://{outputs['name']}" and outputs["name"].startswith("models-")
    assert outputs["env"] == {"GOOGLE_CLOUD_PROJECT": "acme-mlops"}


@pytest.mark.parametrize(("args", "message"), [
    ({"name_prefix": None}, r"artifact_store\.name_prefix: missing"),
    ({"name_prefix": "Models"}, r"artifact_store\.name_prefix: 'Models' is not allowed"),
    ({"name_prefix": "google-models-"}, r"artifact_store\.name_prefix: 'google-models-' is not allowed; GCS refuses"),
    ({"name_prefix": pulumi.Output.from_input("m-")}, r"name_prefix: .* is not allowed; use a plain string"),
    ({"location": None}, r"artifact_store\.location: missing"),
    ({"noncurrent_days": 0}, r"noncurrent_days: 0 is not allowed; use an integer from 1"),
    ({"soft_delete_days": 3}, r"soft_delete_days: 3 is not allowed; use 0 \(off\) or an integer from 7 to 90"),
    ({"kms_key_name": "my-key"}, r"kms_key_name: 'my-key' is not allowed; use a Cloud KMS key name"),
    ({"kms_key_name": KEY, "customer_managed_key": True}, r"customer_managed_key: True is not allowed with kms_key"),
    ({"customer_managed_key": True, "location": "EU"}, r"customer_managed_key: True is not allowed with location 'EU'"),
    ({"access_logging": "yes"}, r"access_logging: 'yes' is not allowed; use true or false"),
    ({"public": True}, r"artifact_store\.public: unknown key"),
])
def test_bad_arguments_fail_before_any_resource(args, message):
    full = {"name_prefix": "models-", "location": "europe-west1", **args}
    full = {key: value for key, value in full.items() if value is not None}
    with pytest.raises(ArgumentError, match=message):
        validate_artifact_store_args(full)
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(lambda: ArtifactStore("store", full))
    assert raised.value.registered == []
