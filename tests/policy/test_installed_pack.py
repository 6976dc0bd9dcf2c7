"""The pack an installed user gets without a policies/ folder of their own is the repository's pack."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from mlops_platform_offline.analyzer import PolicyPackProcess
from mlops_platform_offline.policy_pack import default_policy_pack, installed_pack_dir, main

ROOT = Path(__file__).resolve().parents[2]


def test_a_project_with_its_own_pack_in_policies_gets_that_pack():
    assert default_policy_pack(ROOT) == ROOT / "policies"


def test_a_project_without_one_gets_the_installed_mlopsguard_described_as_policies_describes_it(tmp_path):
    (tmp_path / "policies").mkdir()  # a folder of that name that is not a pack does not count
    pack = default_policy_pack(tmp_path)
    assert pack == installed_pack_dir() and not pack.is_relative_to(ROOT)
    written = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    repository = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert (written["description"], written["version"]) == (repository["description"], repository["version"])


def test_the_installed_pack_serves_exactly_the_policies_of_the_repository_pack():
    with PolicyPackProcess(installed_pack_dir()) as installed, PolicyPackProcess(ROOT / "policies") as repository:
        assert [p.name for p in installed.info()[0]] == [p.name for p in repository.info()[0]]
        assert installed.info()[1] == repository.info()[1]


def test_mlops_policy_pack_writes_a_pack_directory_for_the_pulumi_cli_naming_this_virtualenv(tmp_path, capsys):
    directory = tmp_path / "mlopsguard"
    assert main([str(directory)]) == 0
    written = yaml.safe_load((directory / "PulumiPolicy.yaml").read_text())
    assert written["runtime"] == {"name": "python", "options": {"virtualenv": sys.prefix}}
    assert f"pulumi preview --policy-pack {directory}" in capsys.readouterr().out
    with PolicyPackProcess(directory) as written_pack, PolicyPackProcess(ROOT / "policies") as repository:
        assert [p.name for p in written_pack.info()[0]] == [p.name for p in repository.info()[0]]
