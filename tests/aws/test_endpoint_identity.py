"""On AWS, a model endpoint's IRSA role may read the artifact store and nothing more; MLflow may also write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.harness import ProjectFiles, read_stack_config, run_program

ROOT = Path(__file__).resolve().parents[2]
WRITES = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
          "kms:GenerateDataKey"}


@pytest.fixture(scope="module")
def plan_with_endpoint():
    """aws-dev with the endpoint that the local stack declares."""
    project = ProjectFiles.load(ROOT)
    config = read_stack_config(project, "aws-dev")
    endpoints = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]["mlops:endpoints"]
    config["mlops:endpoints"] = json.dumps(endpoints)
    return run_program(project.program, project=project.name, stack="aws-dev", config=config)


def granted_actions(plan, policy_name: str) -> set[str]:
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", policy_name).inputs["policy"])
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    return actions


def test_the_endpoint_identity_can_only_read_the_store(plan_with_endpoint):
    actions = granted_actions(plan_with_endpoint, "mlops-kubernetes-churn-artifacts")
    assert "s3:GetObject" in actions
    assert actions.isdisjoint(WRITES)


def test_the_mlflow_identity_can_write_the_store(plan_with_endpoint):
    assert {"s3:GetObject", "s3:PutObject"} <= granted_actions(plan_with_endpoint, "mlops-kubernetes-mlflow-artifacts")
