"""`python -m mlops_platform_offline.ci_matrix`: the CI's stack lists come from stacks/, so a new stack file is picked up by itself."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.ci_matrix import MatrixError, main, matrices, stack_entries
from mlops_platform_offline.harness import ProjectFiles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's stack files, policy configs and Pulumi.yaml."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copytree(ROOT / "policies" / "config", tmp_path / "policies" / "config")
    return tmp_path


def add_stack(project: Path, name: str, config: dict) -> None:
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_the_matrix_covers_every_stack_in_stacks():
    entries = stack_entries(ROOT)
    assert [e.stack for e in entries] == ProjectFiles.load(ROOT).stacks()
    lists = matrices(entries)
    assert [e["stack"] for e in lists["offline"]] == [e.stack for e in entries]
    assert {e["stack"] for e in lists["cloud"]} == {e.stack for e in entries if e.cloud != "local"}


def test_a_stack_file_added_to_the_folder_appears_in_the_matrix(project):
    add_stack(project, "gcp-dev", {"mlops:cloud": "gcp", "mlops:region": "europe-west1",
                                   "mlops:tags": {"environment": "dev", "project": "mlops"}})
    add_stack(project, "azure-prod", {"mlops:cloud": "azure", "mlops:region": "westeurope",
                                      "mlops:tags": {"environment": "prod", "project": "mlops"}})
    out = io.StringIO()
    output = project / "github-output"
    assert main(["--project", str(project), "--github-output", str(output)], out=out) == 0
    lists = json.loads(out.getvalue())
    offline = {e["stack"]: e for e in lists["offline"]}
    assert offline["gcp-dev"] == {"stack": "gcp-dev", "cloud": "gcp", "kind": "platform",
                                  "policy_config": "policies/config/dev.json", "production": False}
    assert offline["azure-prod"]["policy_config"] == "policies/config/prod.json"
    assert "gcp-dev" in [e["stack"] for e in lists["deploy"]]
    assert "azure-prod" in [e["stack"] for e in lists["deploy-production"]]
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert set(written) == {"offline", "cloud", "deploy", "deploy-production"}
    assert [e["stack"] for e in json.loads(written["offline"])] == sorted(offline)


def test_production_stacks_deploy_behind_the_environment_and_local_never_deploys():
    lists = matrices(stack_entries(ROOT))
    assert [e["stack"] for e in lists["deploy-production"]] == ["aws-prod", "azure-prod", "gcp-prod"]
    assert "aws-dev" in [e["stack"] for e in lists["deploy"]]
    deployed = {e["stack"] for e in lists["deploy"] + lists["deploy-production"]}
    assert "local" not in deployed
    assert all(e["kind"] == "platform" for e in lists["deploy"] + lists["deploy-production"])


def test_ci_identity_stacks_are_previewed_but_never_deployed_by_ci(project):
    add_stack(project, "ci-example", {"mlops:ci_identity": {"cloud": "aws", "repository": "acme/platform"},
                                      "mlops:tags": {"environment": "prod", "project": "mlops"}})
    lists = matrices(stack_entries(project))
    assert {"stack": "ci-example", "cloud": "aws", "kind": "ci-identity",
            "policy_config": "policies/config/prod.json", "production": True} in lists["cloud"]
    assert "ci-example" not in {e["stack"] for e in lists["deploy"] + lists["deploy-production"]}


def test_a_stack_whose_environment_no_policy_config_allows_is_refused(project):
    add_stack(project, "qa", {"mlops:cloud": "aws", "mlops:tags": {"environment": "qa"}})
    with pytest.raises(MatrixError, match=r"stacks/Pulumi.qa.yaml: mlops:tags.environment 'qa' is allowed by 0 "
                                          r"policy configs \(none\)"):
        stack_entries(project)
    err = io.StringIO()
    assert main(["--project", str(project)], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("error: stacks/Pulumi.qa.yaml")


def test_a_stack_without_a_cloud_is_refused(project):
    add_stack(project, "nocloud", {"mlops:tags": {"environment": "dev"}})
    with pytest.raises(MatrixError, match="stacks/Pulumi.nocloud.yaml: mlops:cloud is missing"):
        stack_entries(project)
