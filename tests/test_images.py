"""The platform's images come from one place (``mlops:images``), are named as the README's build commands name
them, and a production stack cannot deploy a placeholder digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from mlops_platform.images import implausible_digest, validate_images
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.config import ConfigError, load_stack_config
from mlops_platform_offline.harness import ProjectFiles, read_stack_config
from tests.kubernetes.rendering import inputs

ROOT = Path(__file__).resolve().parent.parent
STACKS = ProjectFiles.load(ROOT).stacks()
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def _images(plan) -> set[str]:
    found = set()
    for resource in plan.resources:
        if resource.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"):
            found.update(c["image"] for c in inputs(resource)["spec"]["template"]["spec"]["containers"])
    return found


@pytest.mark.parametrize("stack", [s for s in STACKS if s.startswith("aws")])
def test_every_platform_image_is_built_by_the_readme_and_pushed_to_the_stacks_registry(preview, stack):
    registry = json.loads(read_stack_config(ProjectFiles.load(ROOT), stack)["mlops:images"])["registry"]
    ours = {image for image in _images(preview(stack)) if "mlops-" in image}
    assert {image.split("@")[0] for image in ours} == {f"{registry}/mlops-mlflow-server:3.17.2",
                                                       f"{registry}/mlops-serving:0.1.0"}
    readme = (ROOT / "serving_image" / "README.md").read_text()
    assert "-t mlops-mlflow-server:3.17.2" in readme and "-t mlops-serving:0.1.0" in readme


def test_no_stack_names_an_image_outside_mlops_images():
    for stack in STACKS:
        text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
        document = yaml.safe_load(text)["config"]
        assert "ghcr.io/mlops-platform" not in text, stack
        assert "image" not in document.get("mlops:mlflow", {}), stack
        for endpoint in document.get("mlops:endpoints", []):
            assert "image" not in endpoint["blue"] and "image" not in endpoint["green"], stack


def test_production_reads_each_digest_from_the_registry_and_commits_none(preview):
    text = (ROOT / "stacks" / "Pulumi.aws-prod.yaml").read_text()
    assert "sha256:" not in text
    for image in (i for i in _images(preview("aws-prod")) if "mlops-" in i):
        name, digest = image.split("@")
        repository, tag = name.rsplit("/", 1)[1].split(":")
        # the harness's ECR answers with a hash of repository and tag: the digest came from the lookup
        assert digest == "sha256:" + hashlib.sha256(f"ecr-image::{repository}:{tag}".encode()).hexdigest()


@pytest.mark.parametrize("digest", ["sha256:" + "0" * 64, "sha256:" + "f" * 64, "sha256:" + "deadbeef" * 8,
                                    "sha256:" + "0123456789abcdef" * 4, "sha256:" + "ab" * 30 + "abcd"])
def test_digests_that_cannot_be_real_are_refused(digest):
    assert implausible_digest(digest)
    with pytest.raises(ArgumentError, match=r"^images\.tracking_digest: .* cannot be a real digest"):
        validate_images({"registry": ECR, "tracking_digest": digest})


def test_a_real_digest_is_accepted():
    digest = "sha256:" + hashlib.sha256(b"an image").hexdigest()
    assert not implausible_digest(digest)
    assert validate_images({"registry": ECR, "serving_digest": digest}).serving_digest == digest


@pytest.mark.parametrize("images, message", [
    (None, r"^images\.registry: missing; name the registry"),
    ({"registry": "Not A Registry"}, r"^images\.registry: 'Not A Registry' is not allowed"),
    ({"registry": ECR, "serving_tag": "latest"}, r"^images\.serving_tag: 'latest' is not allowed"),
    ({"registry": ECR, "digests": "registry", "serving_digest": "sha256:" + "1a" * 32},
     r"^images\.serving_digest: not allowed with digests: registry"),
    ({"registry": ECR, "digests": "somewhere"}, r"^images\.digests: 'somewhere' is not allowed"),
])
def test_bad_images_sections_are_refused_with_the_field_path(images, message):
    with pytest.raises(ArgumentError, match=message):
        validate_images(images)


BASE = {"mlops:name": "mlops-dev", "mlops:cloud": "aws", "mlops:region": "eu-west-1",
        "mlops:tags": json.dumps({"environment": "dev", "project": "mlops"})}


@pytest.mark.parametrize("extra, message", [
    ({"mlops:images": {"registry": ECR}, "mlops:mlflow": {"image": "ghcr.io/x/mlflow:1"}},
     r"^mlops:mlflow\.image: not allowed in stack config; set mlops:images"),
    ({"mlops:images": {"registry": "ghcr.io/acme", "digests": "registry"}},
     r"^mlops:images\.registry: 'ghcr.io/acme' is not allowed with digests: registry; use the ECR registry"),
    ({"mlops:images": {"registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "digests": "registry"}},
     r"^mlops:images\.registry: .* use the ECR registry of the stack's region"),
])
def test_the_stack_config_names_images_only_in_mlops_images(extra, message):
    config = {**BASE, **{key: json.dumps(value) for key, value in extra.items()}}
    with pytest.raises(ConfigError, match=message):
        load_stack_config(config)
