"""`python -m mlops_platform_offline.preview STACK --compare BASE.json`: the plan diff on real previews of the project's stacks."""

from __future__ import annotations

import copy
import importlib
import inspect
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.analyzer import run_policy_pack
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG
from mlops_platform_offline.plan_diff import PlanDiffError, compare, render_markdown
from mlops_platform_offline.preview import EXIT_OK, EXIT_STATEFUL_CHANGE, EXIT_VIOLATIONS, OVERRIDE_ENV, main, preview_document
from mlops_platform_offline.stateful_resources import MAJOR_VERSION_INPUT, REPLACED_ON, STATEFUL_KINDS

ROOT = Path(__file__).resolve().parents[2]
STACK = "aws-dev"
RDS = "aws:rds/instance:Instance"


@pytest.fixture(scope="module")
def base_document(preview, tmp_path_factory) -> Path:
    """The aws-dev preview with its policy verdict, as the base branch's job writes it."""
    plan = preview(STACK)
    path = tmp_path_factory.mktemp("base") / "base.json"
    path.write_text(json.dumps(preview_document(plan, run_policy_pack(plan, ROOT / "policies"))))
    return path


def run_head(tmp_path: Path, base: Path, edit) -> tuple[int, dict, str]:
    """Preview aws-dev with ``edit`` applied to its config, compared with ``base``: (status, diff JSON, Markdown)."""
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
    edit(document["config"])
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(
        {"name": "mlops", "runtime": "python", "main": str(ROOT / "infra"), "stackConfigDir": "stacks"}))
    out, err = io.StringIO(), io.StringIO()
    status = main([STACK, "--program", str(tmp_path), "--compare", str(base), "--diff-json",
                   str(tmp_path / "diff.json"), "--diff-markdown", str(tmp_path / "diff.md")], out=out, err=err)
    assert err.getvalue() == ""
    return status, json.loads((tmp_path / "diff.json").read_text()), (tmp_path / "diff.md").read_text()


@pytest.fixture(scope="module")
def retagged(base_document, tmp_path_factory, monkeypatch_module):
    def edit(config):
        config["mlops:tags"] = {**config["mlops:tags"], "owner": "ml-research", "team": "vision"}
    return run_head(tmp_path_factory.mktemp("retagged"), base_document, edit)


@pytest.fixture(scope="module")
def renamed(base_document, tmp_path_factory, monkeypatch_module):
    return run_head(tmp_path_factory.mktemp("renamed"), base_document,
                    lambda config: config.update({"mlops:name": "mlops-renamed"}))


@pytest.fixture(scope="module")
def monkeypatch_module():
    """The override variable is unset for the module's CLI runs, whatever the caller's environment says."""
    patch = pytest.MonkeyPatch()
    patch.delenv(OVERRIDE_ENV, raising=False)
    yield patch
    patch.undo()


def test_a_tag_change_shows_changed_resources_and_no_replacement(retagged):
    status, diff, markdown = retagged
    assert status == EXIT_OK
    changed = {(c["type"], c["name"]): c["keys"] for c in diff["changed"]}
    assert changed[("pulumi:providers:aws", "mlops-aws")] == ["defaultTags"]
    assert any(type_.startswith("kubernetes:") and "metadata" in keys for (type_, _), keys in changed.items())
    # A new tag key reaches the nodes through one Auto Scaling group tag per pool, and adds nothing else.
    assert {added["type"] for added in diff["added"]} == {"aws:autoscaling/tag:Tag"}
    assert (diff["removed"], diff["stateful"]) == ([], [])
    assert diff["blocking"] is False
    assert "No stateful resource is deleted, replaced or upgraded irreversibly." in markdown


def test_renaming_the_platform_replaces_the_cluster_database_and_buckets_and_exits_non_zero(renamed):
    status, diff, markdown = renamed
    assert status == EXIT_STATEFUL_CHANGE
    replaced = {(c["type"], c["name"]): c for c in diff["stateful"]}
    assert set(replaced) == {("aws:eks/cluster:Cluster", "mlops-cluster-eks"), (RDS, "mlops-database-instance"),
                             ("aws:s3/bucket:Bucket", "mlops-artifacts-bucket"),
                             ("aws:s3/bucket:Bucket", "mlops-artifacts-access-logs-bucket")}
    database = replaced[(RDS, "mlops-database-instance")]
    assert (database["holds"], database["action"]) == ("database", "replace")
    assert database["reasons"] == ["identifier: mlops-aws-dev-mlflow -> mlops-renamed-mlflow "
                                   "(the provider replaces on this input)"]
    assert diff["blocking"] is True
    assert "| `mlops-database-instance` | `aws:rds/instance:Instance` | database | **replace** |" in markdown


def test_the_override_lets_a_replacement_pass_but_still_lists_it(base_document, renamed):
    assert renamed[1]["override"] is False
    base = json.loads(Path(base_document).read_text())
    head = copy.deepcopy(base)
    next(r for r in head["resources"] if r["type"] == RDS)["inputs"]["identifier"] = "mlops-renamed-mlflow"
    allowed = compare(base, head, override=True)
    assert [c.name for c in allowed.stateful] == ["mlops-database-instance"]
    assert allowed.blocking is False
    assert "allowed by the override label" in render_markdown(allowed)


def test_changing_the_database_engine_major_version_is_flagged_and_exits_non_zero(base_document, tmp_path,
                                                                                  monkeypatch_module):
    def edit(config):
        config["mlops:database"] = {**config["mlops:database"], "engine_version": "16"}
    status, diff, _ = run_head(tmp_path, base_document, edit)
    assert status == EXIT_STATEFUL_CHANGE
    [database] = diff["stateful"]
    assert (database["name"], database["holds"], database["action"]) == (
        "mlops-database-instance", "database", "major-upgrade")
    assert database["reasons"][0].startswith("engineVersion: 17 -> 16")


def test_a_change_that_adds_a_violation_shows_it_as_introduced(base_document, tmp_path, monkeypatch_module):
    status, diff, markdown = run_head(tmp_path, base_document, lambda config: config["mlops:tags"].pop("cost-center"))
    assert status == EXIT_VIOLATIONS
    introduced = diff["violations"]["introduced"]
    assert introduced and {v["policy"] for v in introduced if v["level"] == "mandatory"} == {"required-cost-tags"}
    assert any(v["urn"].endswith("::mlops-artifacts-bucket") for v in introduced)
    assert diff["violations"]["fixed"] == []
    assert "| introduced | mandatory | `required-cost-tags` | `mlops-artifacts-bucket` |" in markdown


def test_a_removed_stateful_resource_is_deleted_and_a_renamed_one_replaced(base_document):
    base = json.loads(Path(base_document).read_text())
    head = copy.deepcopy(base)
    head["resources"] = [r for r in head["resources"] if r["name"] != "mlops-artifacts-access-logs-bucket"]
    database = next(r for r in head["resources"] if r["type"] == RDS)
    database["urn"] = database["urn"].replace("mlops-database-instance", "mlops-db-instance")
    database["name"] = "mlops-db-instance"
    actions = {(c.name, c.action) for c in compare(base, head).stateful}
    assert actions == {("mlops-artifacts-access-logs-bucket", "delete"), ("mlops-database-instance", "replace")}


def test_a_removed_resource_that_holds_no_state_is_only_listed_as_removed(base_document):
    base = json.loads(Path(base_document).read_text())
    head = copy.deepcopy(base)
    service = next(r for r in head["resources"] if r["type"] == "kubernetes:core/v1:Service")
    head["resources"] = [r for r in head["resources"] if r is not service]
    diff = compare(base, head)
    assert [(r.type, r.name) for r in diff.removed] == [("kubernetes:core/v1:Service", service["name"])]
    assert diff.stateful == ()


def test_secret_values_are_never_shown(base_document):
    base = json.loads(Path(base_document).read_text())
    head = copy.deepcopy(base)
    database = next(r for r in head["resources"] if r["type"] == RDS)
    database["inputs"]["username"] = {SECRET_SIG: SECRET_MARKER, "value": "[secret]"}
    diff = compare(base, head)
    [change] = diff.stateful
    assert change.reasons == ("username: mlflow -> [secret] (the provider replaces on this input)",)
    text = render_markdown(diff) + json.dumps(diff.as_json())
    assert SECRET_MARKER not in text


def test_previews_of_different_stacks_are_refused(base_document):
    base = json.loads(Path(base_document).read_text())
    with pytest.raises(PlanDiffError, match="base is stack mlops/aws-dev but head is mlops/aws-prod"):
        compare(base, {**base, "stack": "aws-prod"})


def test_diff_options_without_compare_exit_2():
    err = io.StringIO()
    assert main([STACK, "--diff-json", "x.json"], out=io.StringIO(), err=err) == 2
    assert "need --compare BASE.json" in err.getvalue()


def _sdk_args_parameters(type_: str) -> set[str]:
    """The keyword arguments of the SDK ``...Args`` class behind a type token, in wire form (camelCase)."""
    package, module_path, class_name = re.fullmatch(r"([a-z-]+):([A-Za-z0-9/.]+?)(?:/[A-Za-z0-9]+)?:(\w+)",
                                                    type_).groups()
    module = importlib.import_module(f"pulumi_{package.replace('-', '_')}.{module_path.split('/')[0]}")
    args_class = getattr(module, f"{class_name}Args")
    names = inspect.signature(args_class.__init__).parameters
    return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name) for name in names if name != "self"}


@pytest.mark.parametrize("type_", sorted(STATEFUL_KINDS))
def test_every_replace_forcing_input_is_an_input_of_the_pinned_sdk(type_):
    """Keeps the table honest across provider upgrades: each path starts with an argument the SDK still has."""
    parameters = _sdk_args_parameters(type_)
    paths = REPLACED_ON[type_] + ((MAJOR_VERSION_INPUT[type_],) if type_ in MAJOR_VERSION_INPUT else ())
    assert {path.split(".")[0] for path in paths} - parameters == set()
