"""The platform loads only the cloud layer a stack chooses, and names the extra when its SDK is missing."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from mlops_platform import cloud_registry
from mlops_platform.cloud_registry import CLOUD_LAYERS, MissingCloudSdk, load_cloud_layer
from mlops_platform.platform import validate_platform_args

TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops"}


@pytest.mark.parametrize("cloud", sorted(CLOUD_LAYERS))
def test_every_registered_cloud_loads_a_builder_whose_sections_its_layer_reads(cloud):
    builder = load_cloud_layer(cloud)
    entry = CLOUD_LAYERS[cloud]
    assert callable(builder.validate) and callable(builder.build) and callable(builder.gpu)
    layer = importlib.import_module(f"mlops_platform.{cloud}.layer")
    own = set(getattr(layer, "SECTIONS", ()))
    assert own <= set(entry.sections), f"{cloud}: the registry must list every section its layer reads"


def test_a_cloud_whose_sdk_is_missing_is_refused_in_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(cloud_registry.CLOUD_LAYERS, "gcp", replace(CLOUD_LAYERS["gcp"], sdk="pulumi_gcp_absent"))
    with pytest.raises(MissingCloudSdk) as raised:
        validate_platform_args({"cloud": "gcp", "region": "europe-west1", "name": "mlops", "tags": TAGS},
                               prefix="mlops:")
    assert str(raised.value) == ("mlops:cloud: 'gcp' needs the pulumi_gcp_absent package, which is not installed; "
                                 "install the gcp extra: pip install \"pulumi-mlops-platform[gcp]\"")


def test_validating_and_building_an_aws_platform_imports_no_other_cloud_sdk():
    program = (
        "import json, sys\n"
        "from mlops_platform_offline.harness import run_function\n"
        "from mlops_platform.platform import MlopsPlatform\n"
        f"args = {{'name': 'mlops', 'cloud': 'aws', 'region': 'eu-west-1', 'tags': {TAGS!r},\n"
        "        'images': {'registry': '123456789012.dkr.ecr.eu-west-1.amazonaws.com'}}\n"
        "preview = run_function(lambda: MlopsPlatform('mlops', args))\n"
        "print(json.dumps({'resources': len(preview.resources),\n"
        "                  'other': sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "                                  ('pulumi_gcp', 'pulumi_azure_native'))}))\n")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["resources"] > 50 and result["other"] == []
