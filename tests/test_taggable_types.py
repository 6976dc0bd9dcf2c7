"""The policy pack's list of taggable types matches the pinned provider SDKs."""

import json

from mlops_platform_offline.taggable_types import OUTPUT, taggable_types


def test_the_committed_list_matches_the_installed_sdks():
    assert json.loads(OUTPUT.read_text()) == taggable_types(), "regenerate: python -m mlops_platform_offline.taggable_types"


def test_the_list_knows_the_types_the_platform_creates():
    types = taggable_types()
    assert "aws:s3/bucket:Bucket" in types["aws"] and "aws:s3/bucketPolicy:BucketPolicy" not in types["aws"]
    assert "gcp:storage/bucket:Bucket" in types["gcp"]
    assert "azure-native:storage:StorageAccount" in types["azure-native"]
