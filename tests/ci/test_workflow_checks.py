"""The workflows pass actionlint, zizmor (default persona) and GitHub's workflow JSON schema, and each of the three
checks fails on a broken copy, so a green run means something."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ci.workflow_files import ROOT, WORKFLOWS

BIN = Path(sys.executable).parent


def actionlint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "actionlint"), "-no-color"], cwd=root, capture_output=True, text=True,
                          timeout=120)


def zizmor(root: Path) -> subprocess.CompletedProcess:
    # --offline: no GitHub API calls; the default persona is "regular".
    return subprocess.run([str(BIN / "zizmor"), "--offline", "--no-progress", str(root / ".github")], cwd=root,
                          capture_output=True, text=True, timeout=120)


def schema(root: Path) -> subprocess.CompletedProcess:
    files = sorted(str(path) for path in (root / ".github" / "workflows").glob("*.yml"))
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
                          cwd=root, capture_output=True, text=True, timeout=120)


CHECKS: dict[str, Callable[[Path], subprocess.CompletedProcess]] = {
    "actionlint": actionlint, "zizmor": zizmor, "check-jsonschema": schema}

BREAKAGES = {
    # a job that needs a job which does not exist
    "actionlint": ("pull-request.yml", "    needs: [stacks, offline]\n", "    needs: [stacks, offlin]\n"),
    # a third-party action by a moving tag, not a commit
    "zizmor": ("tests.yml", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
               "actions/checkout@v7"),
    # a misspelt job key
    "check-jsonschema": ("deploy.yml", "    timeout-minutes: 120\n    # Required", "    timeout-minute: 120\n    # Required"),
}


def repository_copy(tmp_path: Path) -> Path:
    """The workflows and local actions in a fresh git repository (actionlint finds the project by its .git)."""
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    return tmp_path


def test_there_are_the_three_workflows():
    assert sorted(path.name for path in WORKFLOWS.glob("*.yml")) == ["deploy.yml", "pull-request.yml", "tests.yml"]


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_workflows_pass(check):
    result = CHECKS[check](ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    if check == "zizmor":
        assert "No findings to report" in result.stdout + result.stderr


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_check_fails_on_a_broken_copy(check, tmp_path):
    root = repository_copy(tmp_path)
    name, good, bad = BREAKAGES[check]
    path = root / ".github" / "workflows" / name
    text = path.read_text()
    assert text.count(good) == 1
    assert CHECKS[check](root).returncode == 0  # the copy itself passes: the failure below is the breakage's
    path.write_text(text.replace(good, bad))
    result = CHECKS[check](root)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    expected = {"actionlint": "offlin", "zizmor": "unpinned-uses", "check-jsonschema": "timeout-minute"}[check]
    assert expected in output, output
