"""Starting a policy pack: a broken pack fails fast with its own error, and a chatty one never stalls."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_platform_offline.analyzer import PolicyConfigError, PolicyPackProcess
from mlops_platform_offline.harness import Preview
from tests.test_cost_tag_policy import resource

PACK_MAIN = """
import sys
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

def noisy(args, report_violation):
    sys.stderr.write("x" * 100_000)   # far more than a pipe buffer holds
    print("y" * 100_000)

PolicyPack(name="noisy", enforcement_level=EnforcementLevel.ADVISORY,
           policies=[ResourceValidationPolicy(name="noisy", description="writes a lot", validate=noisy)])
"""


def write_pack(directory: Path, main: str) -> Path:
    (directory / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (directory / "__main__.py").write_text(main)
    return directory


def test_a_directory_without_a_pack_is_rejected(tmp_path):
    with pytest.raises(PolicyConfigError, match="no PulumiPolicy.yaml"):
        PolicyPackProcess(tmp_path)


def test_a_pack_that_crashes_at_start_reports_its_own_error(tmp_path):
    pack = write_pack(tmp_path, "raise SystemExit('rules failed to import: no module named rules')\n")
    with pytest.raises(RuntimeError, match="did not start: .*rules failed to import"):
        with PolicyPackProcess(pack):
            pass


def test_a_pack_that_writes_a_lot_keeps_answering(tmp_path):
    with PolicyPackProcess(write_pack(tmp_path, PACK_MAIN)) as pack:
        pack.configure({"noisy": {"enforcementLevel": "advisory"}})
        preview = Preview("p", "s", [resource("kubernetes:core/v1:Namespace", {}, name=f"n{i}") for i in range(5)], {})
        assert pack.analyze(preview) == []
