"""Karpenter against its pinned upstream release (../shared/reference/karpenter): the chart version, every values
key the controller release sets, and every NodePool and EC2NodeClass of the stacks against the release's CRDs."""

from __future__ import annotations

import pytest
import yaml

from mlops_platform.aws.karpenter import CHART_VERSION, CRD_CHART
from tests.kubernetes.rendering import inputs
from tests.kubernetes.test_prometheus_stack import _unknown_keys
from tests.kubernetes_schema import object_from_resource, validate_crd_object

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CRDS = {NODE_POOL: "crd-nodepools.yaml", NODE_CLASS: "crd-ec2nodeclasses.yaml"}


def _reference_version(reference) -> str:
    # The Chart.yaml at the v1.14.1 tag still reads 1.13.0 (the release job bumps it after tagging); the CRDs and
    # values are the release's, so the tag recorded in the reference README is the version to compare.
    readme = (reference / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("| karpenter/"))
    return line.split("at tag v", 1)[1].split(" ", 1)[0]


def test_the_chart_and_its_crds_are_pinned_to_the_reference_release(preview, reference):
    assert CHART_VERSION == _reference_version(reference)
    releases = {r.inputs["chart"]: r.inputs for r in preview("aws-prod").all("kubernetes:helm.sh/v3:Release")}
    assert releases[CRD_CHART]["version"] == CHART_VERSION
    controller = releases["oci://public.ecr.aws/karpenter/karpenter"]
    assert controller["version"] == CHART_VERSION
    # Helm never upgrades a chart's bundled CRDs: the controller skips them and the CRD chart owns them.
    assert controller["skipCrds"] is True


def test_every_values_key_of_the_controller_release_exists_in_the_pinned_chart(preview, reference):
    chart = yaml.safe_load((reference / "karpenter" / "values.yaml").read_text())
    release = preview("aws-prod").one("kubernetes:helm.sh/v3:Release", "mlops-karpenter-controller")
    assert _unknown_keys(inputs(release)["values"], chart) == []


@pytest.mark.parametrize("kind", [NODE_POOL, NODE_CLASS])
def test_every_node_pool_and_node_class_passes_the_reference_crd(preview, reference, kind):
    objects = preview("aws-prod").all(kind)
    assert objects
    for resource in objects:
        validate_crd_object(object_from_resource(resource), reference / "karpenter" / CRDS[kind])


def test_production_pins_a_dated_ami_release(preview):
    node_class = inputs(preview("aws-prod").one(NODE_CLASS))
    assert [term["alias"] for term in node_class["spec"]["amiSelectorTerms"]] == ["al2023@v20260930"]
