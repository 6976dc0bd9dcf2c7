"""The compliance report command and the rule list in policies/README.md, both read from the running pack."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlops_platform_offline.compliance import README_BEGIN, README_END, Rule, main, rules_table
from tests.policy.conftest import PACK_DIR


@pytest.fixture(autouse=True)
def in_the_repository_root(monkeypatch):
    """The commands default to the current directory's project: this repository's."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def test_the_readme_lists_exactly_the_rules_the_pack_declares(pack):
    text = (PACK_DIR / "README.md").read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0].lstrip("\n")
    expected = rules_table([Rule.from_info(policy) for policy in pack.policies])
    assert block == expected, "policies/README.md is stale: run python -m mlops_platform_offline.compliance --readme policies/README.md"


def test_the_report_judges_a_stack_per_rule_and_per_framework_control(tmp_path):
    out = io.StringIO()
    assert main(["local", "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")], out=out) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["rules"]) >= 44
    assert {rule["status"] for rule in report["rules"]} <= {"pass", "fail", "n/a"}
    assert all(rule["controls"] for rule in report["rules"])
    frameworks = {row["framework"] for row in report["controls"]}
    assert {"NIST SP 800-53", "ISO/IEC 27001", "PCI DSS", "CIS Kubernetes Benchmark"} <= frameworks
    failing = {v["policy"] for v in report["violations"]}
    assert {r["name"] for r in report["rules"] if r["status"] == "fail"} == failing
    assert "## Framework controls" in (tmp_path / "r.md").read_text()


def test_a_stack_that_does_not_exist_is_a_one_line_error():
    err = io.StringIO()
    assert main(["no-such-stack"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
