"""Every stack in stacks/ previews offline and passes the policy pack with no mandatory violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_platform_offline.analyzer import run_policy_pack
from mlops_platform_offline.harness import ProjectFiles

ROOT = Path(__file__).resolve().parent.parent
STACKS = ProjectFiles.load(ROOT).stacks()


def test_there_is_a_stack_to_preview():
    assert "aws-dev" in STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_has_no_mandatory_violation(preview, stack):
    violations = run_policy_pack(preview(stack), ROOT / "policies")
    assert [v for v in violations if v.level == "mandatory"] == []
