"""storage-access-logging knows a log bucket by the BucketLogging that targets it, even when the bucket's name is
generated (bucketPrefix) and only the recorded property dependency links the two."""

from __future__ import annotations

from tests.policy.conftest import resource

BUCKET = "aws:s3/bucket:Bucket"
LOGGING = "aws:s3/bucketLogging:BucketLogging"


def test_a_generated_name_log_bucket_is_recognised_through_the_property_dependency(pack):
    source = resource(BUCKET, "artifacts", {"bucketPrefix": "mlops-artifacts-"})
    logs = resource(BUCKET, "artifacts-logs", {"bucketPrefix": "mlops-logs-"})
    logging = resource(LOGGING, "artifacts-logging", {"bucket": "mlops-artifacts-1", "targetBucket": "mlops-logs-1"},
                       property_dependencies={"bucket": (source.urn,), "targetBucket": (logs.urn,)})
    assert pack.violations("storage-access-logging", [source, logs, logging]) == []


def test_a_bucket_neither_logged_nor_a_log_target_is_flagged(pack):
    source = resource(BUCKET, "artifacts", {"bucketPrefix": "mlops-artifacts-"})
    stray = resource(BUCKET, "scratch", {"bucketPrefix": "mlops-scratch-"})
    logs = resource(BUCKET, "artifacts-logs", {"bucketPrefix": "mlops-logs-"})
    logging = resource(LOGGING, "artifacts-logging", {"bucket": "mlops-artifacts-1", "targetBucket": "mlops-logs-1"},
                       property_dependencies={"bucket": (source.urn,), "targetBucket": (logs.urn,)})
    [violation] = pack.violations("storage-access-logging", [source, stray, logs, logging])
    assert violation.urn == stray.urn


GCS = "gcp:storage/bucket:Bucket"


def test_a_gcs_log_bucket_is_recognised_by_the_bucket_that_logs_into_it(pack):
    """The log bucket's name is generated; only the recorded dependency of ``logging`` links the two."""
    logs = resource(GCS, "artifacts-logs", {"name": "mlops-logs-1a2b"})
    source = resource(GCS, "artifacts", {"name": "mlops-artifacts-1a2b",
                                         "logging": {"logBucket": "mlops-logs-1a2b"}},
                      property_dependencies={"logging": (logs.urn,)})
    assert pack.violations("storage-access-logging", [source, logs]) == []


def test_a_gcs_log_bucket_named_by_another_bucket_s_logging_passes(pack):
    logs = resource(GCS, "logs", {"name": "central-logs"})
    source = resource(GCS, "artifacts", {"name": "art", "logging": {"logBucket": "central-logs"}})
    assert pack.violations("storage-access-logging", [source, logs]) == []


def test_a_gcs_bucket_neither_logged_nor_a_log_target_is_flagged(pack):
    logs = resource(GCS, "artifacts-logs", {"name": "mlops-logs-1a2b"})
    source = resource(GCS, "artifacts", {"name": "art", "logging": {"logBucket": "mlops-logs-1a2b"}},
                      property_dependencies={"logging": (logs.urn,)})
    stray = resource(GCS, "scratch", {"name": "scratch"})
    [violation] = pack.violations("storage-access-logging", [source, logs, stray])
    assert violation.urn == stray.urn
