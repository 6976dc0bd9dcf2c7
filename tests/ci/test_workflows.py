"""What the workflows promise, read from the files: which job may touch which credential, pins, concurrency."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.ci.workflow_files import ACTIONS, ROOT, SELF_REPOSITORY, WORKFLOWS, job_with_its_actions, strings, workflow

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ALL_WORKFLOWS = sorted(path.name for path in WORKFLOWS.glob("*.yml"))


def all_uses_lines() -> list[tuple[str, str]]:
    """(file, line) of every `uses:` in the workflows and the local actions, comments kept."""
    files = [*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")]
    return [(path.name, line.strip()) for path in files for line in path.read_text().splitlines()
            if re.match(r"\s*(- )?uses:", line)]


def test_the_offline_job_references_no_secret_and_no_token():
    pull_request = workflow("pull-request.yml")
    offline = pull_request["jobs"]["offline"]
    text = list(strings(job_with_its_actions(offline))) + list(strings(pull_request.get("env", {})))
    assert [s for s in text if re.search(r"\bsecrets\b|github\.token|GITHUB_TOKEN|id-token", s)] == []
    assert offline["permissions"] == {"contents": "read"}
    assert pull_request["permissions"] == {}
    assert all(step.get("with", {}).get("persist-credentials") is False
               for step in offline["steps"] if "actions/checkout@" in step.get("uses", ""))


def test_the_secret_search_would_see_a_secret_in_a_local_action(tmp_path, monkeypatch):
    """Guards the test above: a secret hidden in a composite action the job uses is found."""
    offline = workflow("pull-request.yml")["jobs"]["offline"]
    action = yaml.safe_load((ACTIONS / "setup-pulumi" / "action.yml").read_text())
    action["runs"]["steps"].append({"run": "echo", "env": {"TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}})
    (tmp_path / ".github" / "actions" / "setup-pulumi").mkdir(parents=True)
    (tmp_path / ".github" / "actions" / "setup-pulumi" / "action.yml").write_text(yaml.safe_dump(action))
    monkeypatch.setattr("tests.ci.workflow_files.ROOT", tmp_path)
    assert any("secrets." in s for s in strings(job_with_its_actions(offline)))


def test_no_workflow_runs_on_pull_request_target_or_workflow_run():
    for name in ALL_WORKFLOWS:
        assert set(workflow(name)["on"]) & {"pull_request_target", "workflow_run"} == set(), name


def test_only_jobs_for_this_repositorys_pull_requests_get_cloud_credentials_or_a_write_token():
    jobs = workflow("pull-request.yml")["jobs"]
    for name, job in jobs.items():
        permissions = job["permissions"]
        if "id-token" in permissions or any(level == "write" for level in permissions.values()):
            assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"], name
    assert jobs["cloud"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}


def test_the_job_with_the_write_token_runs_no_code_of_the_pull_request():
    comment = workflow("pull-request.yml")["jobs"]["comment"]
    assert not any("actions/checkout@" in step.get("uses", "") or step.get("uses", "").startswith(SELF_REPOSITORY)
                   for step in comment["steps"])
    [post] = [step for step in comment["steps"] if "run" in step]
    assert "${{" not in post["run"]  # values reach the script only through its environment
    assert "PATCH" in post["run"] and "POST" in post["run"]  # edited in place when the stack's comment exists


@pytest.mark.parametrize("name", ALL_WORKFLOWS)
def test_every_job_sets_least_privilege_permissions(name):
    document = workflow(name)
    assert document["permissions"] == {}
    for job_name, job in document["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{name}: {job_name} has no permissions block"
        assert job["permissions"].get("contents") in (None, "read"), f"{name}: {job_name}"


def test_every_third_party_action_is_pinned_by_commit_with_its_version_and_where_it_was_checked():
    lines = all_uses_lines()
    assert len(lines) >= 10
    for file, line in lines:
        uses = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if uses.startswith(SELF_REPOSITORY):
            continue
        assert PINNED.match(uses), f"{file}: {uses} is not pinned by a full commit SHA"
        assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{file}: {uses} has no version comment"
    text = "".join(path.read_text() for path in [*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")])
    for action in {line.split("uses:", 1)[1].split("@", 1)[0].strip() for _, line in lines
                   if not line.split("uses:", 1)[1].strip().startswith(SELF_REPOSITORY)}:
        assert re.search(rf"# {re.escape(action)} v\d+\.\d+\.\d+, checked \d{{4}}-\d\d-\d\d", text), action


def test_the_pull_request_jobs_cancel_superseded_runs_per_pull_request_and_stack():
    for name in ("offline", "cloud", "comment"):
        concurrency = workflow("pull-request.yml")["jobs"][name]["concurrency"]
        assert "github.event.pull_request.number" in concurrency["group"]
        assert "matrix.stack" in concurrency["group"]
        assert concurrency["cancel-in-progress"] is True


def test_a_deployment_of_a_stack_never_runs_twice_at_once_and_is_never_cancelled():
    jobs = workflow("deploy.yml")["jobs"]
    for name in ("deploy", "production"):
        assert jobs[name]["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    assert workflow("deploy.yml")["concurrency"]["cancel-in-progress"] is False
    assert workflow("deploy.yml")["on"] == {"push": {"branches": ["main"]}}


def test_production_stacks_deploy_behind_the_production_environment_after_the_others():
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["production"]["environment"] == "production"
    assert "environment" not in jobs["deploy"]
    assert jobs["production"]["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.production) }}"
    assert jobs["deploy"]["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.deploy) }}"
    assert "deploy" in jobs["production"]["needs"]


@pytest.mark.parametrize("workflow_name, job, command", [
    ("pull-request.yml", "cloud", "pulumi preview"), ("deploy.yml", "deploy", "pulumi up"),
    ("deploy.yml", "production", "pulumi up")])
def test_pulumi_runs_with_the_policy_pack_and_the_stacks_config(workflow_name, job, command):
    [step] = [s for s in workflow(workflow_name)["jobs"][job]["steps"] if command in s.get("run", "")]
    assert re.search(rf'{command} --stack "\$STACK"', step["run"])
    assert '--policy-pack policies --policy-pack-config "$POLICY_CONFIG"' in step["run"]
    assert workflow(workflow_name)["jobs"][job]["env"]["POLICY_CONFIG"] == "${{ matrix.policy_config }}"


@pytest.mark.parametrize("workflow_name, job, identity", [
    ("pull-request.yml", "cloud", "PREVIEW"), ("deploy.yml", "deploy", "DEPLOY"),
    ("deploy.yml", "production", "DEPLOY")])
def test_cloud_credentials_are_keyless_and_use_the_jobs_identity(workflow_name, job, identity):
    steps = workflow(workflow_name)["jobs"][job]["steps"]
    [login] = [s for s in steps if s.get("uses") == "$/.github/actions/cloud-login"]
    assert login["with"]["aws-role-arn"] == f"${{{{ vars.AWS_{identity}_ROLE_ARN }}}}"
    assert login["with"]["gcp-service-account"] == f"${{{{ vars.GCP_{identity}_SERVICE_ACCOUNT }}}}"
    assert login["with"]["azure-client-id"] == f"${{{{ vars.AZURE_{identity}_CLIENT_ID }}}}"
    assert not any("secrets." in s for s in strings(job_with_its_actions(workflow(workflow_name)["jobs"][job])))


def test_the_offline_job_previews_head_and_base_and_publishes_the_diff():
    steps = workflow("pull-request.yml")["jobs"]["offline"]["steps"]
    refs = [s.get("with", {}).get("ref") for s in steps if "actions/checkout@" in s.get("uses", "")]
    assert refs == [None, "${{ github.event.pull_request.base.sha }}"]
    run = "\n".join(s.get("run", "") for s in steps)
    assert '--compare "$RUNNER_TEMP/base.json"' in run and "GITHUB_STEP_SUMMARY" in run
    [upload] = [s for s in steps if "actions/upload-artifact@" in s.get("uses", "")]
    assert "plan-diff.md" in upload["with"]["path"] and "plan-diff.json" in upload["with"]["path"]
    assert "allow-stateful-change" in yaml.safe_dump(steps)


def test_the_test_workflow_runs_ci_run_on_pull_requests_and_pushes():
    tests = workflow("tests.yml")
    assert set(tests["on"]) == {"pull_request", "push"}
    assert [s["run"] for s in tests["jobs"]["test"]["steps"] if "run" in s][-1] == "bash .ci/run"


def test_the_matrix_comes_from_the_in_repo_tool():
    for name, outputs in (("pull-request.yml", {"offline", "cloud"}), ("deploy.yml", {"deploy", "production"})):
        stacks = workflow(name)["jobs"]["stacks"]
        assert set(stacks["outputs"]) == outputs
        assert any("python -m mlops_platform_offline.ci_matrix --github-output" in s.get("run", "") for s in stacks["steps"])
    assert (ROOT / "infra" / "ci_matrix.py").is_file()
