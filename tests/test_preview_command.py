"""`python -m mlops_platform_offline.preview STACK`: the report, the JSON document, and the exit status."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.preview import EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATIONS, main

ROOT = Path(__file__).resolve().parent.parent
RESOURCE_KEYS = ["urn", "type", "name", "parent", "provider", "custom", "protect", "inputs", "dependsOn"]


@pytest.fixture(autouse=True)
def in_the_repository_root(monkeypatch):
    """The commands default to the current directory's project: this repository's."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def project_with_stack(tmp_path: Path, edit) -> Path:
    """A project that runs this repo's program with a modified copy of the aws-dev stack config."""
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.aws-dev.yaml").read_text())
    edit(document["config"])
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.edited.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "mlops", "runtime": "python", "main": str(ROOT / "infra"), "stackConfigDir": "stacks"})
    )
    return tmp_path


def test_the_default_stack_previews_with_its_tree_counts_outputs_and_verdict(tmp_path):
    status, out, _ = run("aws-dev", "--json", str(tmp_path / "plan.json"))
    assert status == EXIT_OK
    assert "+ aws:s3/bucket:Bucket  mlops-artifacts-bucket [protected]" in out
    assert "      + aws:s3/bucket:Bucket" in out  # nested under the artifact store under the platform
    assert "Policies: passed" in out
    [aws_tags] = [line for line in out.splitlines() if line.startswith("  mlops-aws default_tags")]
    assert aws_tags.endswith("cost-center=ml-platform environment=dev managed-by=pulumi owner=ml-infra project=mlops")
    assert "artifact_uri: \"s3://mlops-aws-dev-artifacts-" in out  # names derive from <project>-<stack>


def test_the_json_document_has_exactly_the_documented_shape(tmp_path):
    path = tmp_path / "plan.json"
    assert run("aws-dev", "--json", str(path))[0] == EXIT_OK
    document = json.loads(path.read_text())
    assert list(document) == ["project", "stack", "resources", "outputs", "violations"]
    assert (document["project"], document["stack"]) == ("mlops", "aws-dev")
    assert [v for v in document["violations"] if v["level"] == "mandatory"] == []
    assert all(list(v) == ["policy", "level", "urn", "message"] for v in document["violations"])
    assert all(list(resource) == RESOURCE_KEYS for resource in document["resources"])
    urns = [resource["urn"] for resource in document["resources"]]
    assert urns == sorted(urns)
    lifecycle = next(r for r in document["resources"] if r["name"] == "mlops-artifacts-lifecycle")
    assert '"noncurrentDays": 14' in json.dumps(lifecycle["inputs"])  # whole numbers stay integers
    assert document["outputs"]["cloud"] == "aws"


def test_removing_a_required_tag_exits_1_naming_the_tag_and_the_resources(tmp_path):
    project = project_with_stack(tmp_path, lambda config: config["mlops:tags"].pop("cost-center"))
    status, out, _ = run("edited", "--program", str(project), "--json", str(tmp_path / "plan.json"))
    assert status == EXIT_VIOLATIONS
    assert "[mandatory] required-cost-tags on mlops-artifacts-bucket: missing required cost tag(s): cost-center" in out
    violations = [v for v in json.loads((tmp_path / "plan.json").read_text())["violations"]
                  if v["level"] == "mandatory"]
    assert {v["policy"] for v in violations} == {"required-cost-tags"}
    assert all("cost-center" in v["message"] for v in violations)
    assert any(v["urn"].endswith("::mlops-artifacts-bucket") for v in violations)


def test_a_policy_config_can_make_the_tag_rule_advisory(tmp_path):
    project = project_with_stack(tmp_path, lambda config: config["mlops:tags"].pop("owner"))
    policy_config = tmp_path / "policy.json"
    policy_config.write_text(json.dumps({"required-cost-tags": "advisory"}))
    status, out, _ = run("edited", "--program", str(project), "--policy-config", str(policy_config))
    assert status == EXIT_OK
    assert "[advisory] required-cost-tags" in out


def test_no_policy_skips_the_pack(tmp_path):
    project = project_with_stack(tmp_path, lambda config: config["mlops:tags"].pop("owner"))
    status, out, _ = run("edited", "--program", str(project), "--no-policy")
    assert (status, "Policies: not run (--no-policy)" in out) == (EXIT_OK, True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update({"mlops:region": "Ireland"}), "error: mlops:region: 'Ireland' is not allowed"),
        (lambda c: c.update({"mlops:artifacts": {"noncurrent_days": -1}}),
         "error: mlops:artifacts.noncurrent_days: -1 is not allowed; use an integer from 1 to 3650"),
        (lambda c: c.update({"mlops:regoin": "eu-west-1"}), "error: mlops:regoin: unknown key"),
        (lambda c: c["mlops:tags"].update({"owner": "ML Infra"}), "error: mlops:tags.owner: 'ML Infra' is not allowed"),
    ],
)
def test_a_malformed_config_value_exits_2_with_one_line_naming_the_key(tmp_path, edit, message):
    status, out, err = run("edited", "--program", str(project_with_stack(tmp_path, edit)))
    assert status == EXIT_BAD_INPUT
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_an_unknown_stack_exits_2_listing_the_known_ones():
    status, _, err = run("nope")
    assert status == EXIT_BAD_INPUT
    assert err.startswith("error: stack 'nope': no ") and "aws-dev" in err


def test_a_bad_policy_config_exits_2(tmp_path):
    policy_config = tmp_path / "policy.json"
    policy_config.write_text(json.dumps({"all": "loud"}))
    status, _, err = run("aws-dev", "--policy-config", str(policy_config))
    assert status == EXIT_BAD_INPUT and "all.enforcementLevel: 'loud' is not allowed" in err


def test_another_program_directory_can_be_previewed(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: echo\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  greeting: hi\n")
    (tmp_path / "__main__.py").write_text((ROOT / "tests/unit/programs/config_echo/__main__.py").read_text())
    status, out, _ = run("dev", "--program", str(tmp_path), "--no-policy")
    assert status == EXIT_OK and "greeting: \"hi\"" in out and "aws:s3/bucket:Bucket  echo-hi" in out


def test_another_program_is_judged_by_the_installed_pack_when_it_has_none_of_its_own(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: echo\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  greeting: hi\n")
    (tmp_path / "__main__.py").write_text((ROOT / "tests/unit/programs/config_echo/__main__.py").read_text())
    status, out, _ = run("dev", "--program", str(tmp_path))
    # An untagged bare bucket: the installed mlopsguard's cost and storage rules judge it.
    assert status == EXIT_VIOLATIONS and "[mandatory] required-cost-tags on echo-hi: missing required cost tag(s)" in out


def program_naming_a_virtualenv(tmp_path: Path, virtualenv: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(
        {"name": "echo", "runtime": {"name": "python", "options": {"virtualenv": str(virtualenv)}}}))
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  greeting: hi\n")
    (tmp_path / "__main__.py").write_text((ROOT / "tests/unit/programs/config_echo/__main__.py").read_text())
    return tmp_path


def test_a_program_virtualenv_that_does_not_exist_is_refused_in_one_line(tmp_path):
    missing = tmp_path / "no-venv"
    status, out, err = run("dev", "--program", str(program_naming_a_virtualenv(tmp_path, missing)), "--no-policy")
    assert status == EXIT_BAD_INPUT and out == "" and err.count("\n") == 1
    assert f"runtime.options.virtualenv: {missing} is not a virtualenv; create it" in err


def test_current_python_runs_the_program_here_whatever_virtualenv_it_names(tmp_path):
    program = program_naming_a_virtualenv(tmp_path, tmp_path / "no-venv")
    status, out, _ = run("dev", "--program", str(program), "--no-policy", "--current-python")
    assert status == EXIT_OK and "greeting: \"hi\"" in out


def test_the_module_runs_as_a_command():
    completed = subprocess.run(
        [sys.executable, "-m", "mlops_platform_offline.preview", "aws-dev"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == EXIT_OK, completed.stderr
    assert "Policies: passed" in completed.stdout
