"""Cost tags reach every taggable resource without per-resource code: provider defaults on AWS and GCP, a resource
transform on Azure Native and Kubernetes, and the harness runs that transform as the engine would."""

from __future__ import annotations

import json

import pulumi
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s
import pytest

from mlops_platform.tagging import (
    aws_default_tags,
    cost_tag_transform,
    gcp_default_labels,
    is_azure_taggable,
    is_kubernetes_labellable,
)
from mlops_platform.tags import CostTags
from mlops_platform_offline.harness import run_function

TAGS = CostTags.from_mapping({"cost-center": "ml", "owner": "infra", "environment": "dev", "project": "mlops"})
EXPECTED = {"cost-center": "ml", "owner": "infra", "environment": "dev", "project": "mlops", "managed-by": "pulumi"}


class Tree(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Tree", name, None, opts)


def tagged_preview(build):
    def program():
        tree = Tree("tree", pulumi.ResourceOptions(transforms=[cost_tag_transform(TAGS)]))
        build(pulumi.ResourceOptions(parent=tree))

    return run_function(program)


def test_provider_defaults_carry_the_tags_on_aws_and_gcp():
    assert aws_default_tags(TAGS) == {"tags": EXPECTED}
    assert gcp_default_labels(TAGS) == EXPECTED


def test_azure_resources_that_take_tags_get_them_and_keep_their_own():
    def build(child):
        group = azure.resources.ResourceGroup("rg", tags={"owner": "data-team"}, opts=child)
        azure.storage.StorageAccount(
            "sa", resource_group_name=group.name, kind="StorageV2", sku={"name": "Standard_ZRS"}, opts=child
        )

    preview = tagged_preview(build)
    assert preview.one("azure-native:resources:ResourceGroup").inputs["tags"] == {**EXPECTED, "owner": "data-team"}
    assert preview.one("azure-native:storage:StorageAccount").inputs["tags"] == EXPECTED


def test_azure_resources_without_tags_are_left_untouched():
    def build(child):
        azure.storage.BlobContainer("models", account_name="acct", resource_group_name="rg", opts=child)

    assert "tags" not in tagged_preview(build).one("azure-native:storage:BlobContainer").inputs


def test_kubernetes_objects_get_labels_and_workload_pods_too():
    def build(child):
        k8s.core.v1.Namespace("ns", opts=child)
        k8s.apps.v1.Deployment(
            "model",
            metadata={"labels": {"app": "model", "owner": "serving-team"}},
            spec={
                "selector": {"match_labels": {"app": "model"}},
                "template": {"metadata": {"labels": {"app": "model"}},
                             "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
            },
            opts=child,
        )

    preview = tagged_preview(build)
    assert preview.one("kubernetes:core/v1:Namespace").inputs["metadata"]["labels"] == EXPECTED
    deployment = preview.one("kubernetes:apps/v1:Deployment").inputs
    assert deployment["metadata"]["labels"] == {**EXPECTED, "app": "model", "owner": "serving-team"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {**EXPECTED, "app": "model"}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "model"}}


def test_a_job_pod_template_is_not_relabelled_because_it_is_immutable():
    def build(child):
        k8s.batch.v1.Job(
            "migrate",
            spec={"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}}},
            opts=child,
        )

    job = tagged_preview(build).one("kubernetes:batch/v1:Job").inputs
    assert job["metadata"]["labels"] == EXPECTED
    assert "metadata" not in job["spec"]["template"]


def test_labels_known_only_at_deployment_are_merged_when_they_resolve():
    def build(child):
        later = pulumi.Output.from_input({"app": "later"}).apply(lambda labels: labels)
        k8s.core.v1.ConfigMap("cm", metadata={"labels": later}, data={"k": "v"}, opts=child)

    assert tagged_preview(build).one("kubernetes:core/v1:ConfigMap").inputs["metadata"]["labels"] == {
        **EXPECTED, "app": "later"}


def test_resources_outside_the_tagged_tree_are_not_touched():
    def program():
        Tree("tree", pulumi.ResourceOptions(transforms=[cost_tag_transform(TAGS)]))
        k8s.core.v1.Namespace("outside")

    assert "metadata" not in run_function(program).one("kubernetes:core/v1:Namespace").inputs


@pytest.mark.parametrize(
    ("type_", "taggable"),
    [
        ("azure-native:resources:ResourceGroup", True),
        ("azure-native:storage/v20230101:StorageAccount", True),
        ("azure-native:storage:BlobContainer", False),
        ("azure-native:nosuchmodule:Thing", False),
        ("aws:s3/bucket:Bucket", False),
    ],
)
def test_azure_taggability_is_read_from_the_sdk(type_, taggable):
    assert is_azure_taggable(type_) is taggable


@pytest.mark.parametrize(
    ("type_", "labellable"),
    [
        ("kubernetes:core/v1:Namespace", True),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", True),
        ("kubernetes:helm.sh/v3:Release", False),
        ("kubernetes:yaml/v2:ConfigGroup", False),
        ("kubernetes:core/v1:ConfigMapList", False),
        ("pulumi:providers:kubernetes", False),
    ],
)
def test_kubernetes_labellability_excludes_releases_components_and_lists(type_, labellable):
    assert is_kubernetes_labellable(type_) is labellable


def test_the_platform_provider_carries_the_stack_tags_as_default_tags(preview):
    provider = preview("aws-dev").one("pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"])["tags"]["cost-center"] == "ml-platform"
