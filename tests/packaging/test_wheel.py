"""The library as a consumer gets it: a wheel built from this checkout, installed with ``[aws,testing]`` into a
fresh virtualenv outside the repository, and a program of the consumer's own (``consumer/``: its own
``components/`` package, a sibling module, its own tags, a ``secure:`` value) previewed and tested from there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlops_platform.tagging import is_aws_taggable
from mlops_platform_offline.harness import SECURE_PLACEHOLDER

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = Path(__file__).resolve().parent / "consumer"
LOCK = ROOT / ".ci" / "requirements.lock"
TEAM_TAGS = {"project": "shop-recs", "owner": "recs-team", "cost-center": "cc-4711", "environment": "dev"}


@dataclass(frozen=True)
class ConsumerInstall:
    wheel: Path
    venv: Path
    project: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)


def _checked(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    completed = _run(command, **kwargs)
    assert completed.returncode == 0, f"{command}: {completed.stdout}\n{completed.stderr}"
    return completed


@pytest.fixture(scope="session")
def install(tmp_path_factory) -> ConsumerInstall:
    """Build the wheel, install it with [aws,testing] at the locked versions, and lay out the consumer project."""
    uv = shutil.which("uv") or pytest.skip("uv is not installed (bash .ci/setup installs it)")
    root = tmp_path_factory.mktemp("consumer")
    assert not root.resolve().is_relative_to(ROOT)
    _checked([uv, "build", "--quiet", "--wheel", "--out-dir", root / "dist", ROOT])
    [wheel] = (root / "dist").glob("*.whl")
    project = root / "project"
    shutil.copytree(CONSUMER, project)
    venv = project / "venv"  # where its Pulumi.yaml says (runtime.options.virtualenv), as in the README
    _checked([uv, "venv", "--quiet", "--python", sys.executable, venv])
    _checked([uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", f"{wheel}[aws,testing]",
              "--constraint", LOCK])
    return ConsumerInstall(wheel=wheel, venv=venv, project=project)


def _clean_env() -> dict[str, str]:
    """The environment without this checkout's virtualenv on PATH or PYTHONPATH."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_the_wheel_ships_type_information_console_scripts_and_the_pytest_plugin(install):
    with zipfile.ZipFile(install.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert {"mlops_platform/py.typed", "mlops_platform_offline/py.typed", "mlopsguard/py.typed",
            "mlopsguard/taggable_types.json"} <= names
    assert "mlops-preview = mlops_platform_offline.preview:main" in entry_points
    assert "mlops-compliance = mlops_platform_offline.compliance:main" in entry_points
    assert "mlops-policy-pack = mlops_platform_offline.policy_pack:main" in entry_points
    assert "mlops_platform = mlops_platform_offline.pytest_plugin" in entry_points


def test_an_aws_install_has_no_gcp_or_azure_sdk_and_imports_the_aws_components(install):
    listed = _checked(["uv", "pip", "list", "--python", install.python, "--format", "json"])
    names = {package["name"] for package in json.loads(listed.stdout)}
    assert {"pulumi-aws", "pulumi-policy", "pytest"} <= names
    assert not names & {"pulumi-gcp", "pulumi-azure-native"}
    imported = _checked([install.python, "-c", (
        "import sys, mlops_platform.platform, mlops_platform.aws.layer_builder, mlops_platform.aws.artifact_store, "
        "mlops_platform.aws.workload_identity, mlops_platform_offline.preview; "
        "print(sorted(m for m in sys.modules if m.startswith(('pulumi_gcp', 'pulumi_azure_native'))))")],
        cwd=install.project.parent, env=_clean_env())
    assert imported.stdout.strip() == "[]"


def test_a_cloud_whose_extra_is_missing_is_refused_in_one_line_naming_the_extra(install):
    script = ("from mlops_platform.platform import validate_platform_args\n"
              "try:\n"
              "    validate_platform_args({'cloud': 'gcp', 'region': 'europe-west1', 'name': 'shop',"
              " 'tags': {'environment': 'dev', 'project': 'shop'}}, prefix='mlops:')\n"
              "except ValueError as error:\n"
              "    print(error)\n")
    message = _checked([install.python, "-c", script], cwd=install.project.parent, env=_clean_env()).stdout.strip()
    assert message == ("mlops:cloud: 'gcp' needs the pulumi_gcp package, which is not installed; install the gcp "
                       "extra: pip install \"pulumi-mlops-platform[gcp]\"")


@pytest.fixture(scope="session")
def consumer_preview(install, tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``mlops-preview dev`` run from the consumer venv in the consumer's directory, and its JSON document."""
    path = tmp_path_factory.mktemp("preview") / "preview.json"
    completed = _run([install.venv / "bin" / "mlops-preview", "dev", "--json", path], cwd=install.project,
                     env=_clean_env())
    return completed, json.loads(path.read_text()) if path.is_file() else {}


def test_mlops_preview_runs_the_consumer_program_with_its_own_components_and_the_installed_pack(consumer_preview):
    completed, document = consumer_preview
    assert completed.returncode == 0, completed.stdout + completed.stderr
    types = {resource["type"] for resource in document["resources"]}
    assert {"shop:ml:ModelStore", "mlops:aws:ArtifactStore", "mlops:aws:WorkloadIdentity"} <= types
    assert [v for v in document["violations"] if v["level"] == "mandatory"] == []
    assert "Policies: passed" in completed.stdout


def test_every_taggable_aws_resource_of_the_consumer_carries_the_consumer_tags_of_its_own(consumer_preview):
    _, document = consumer_preview
    by_urn = {resource["urn"]: resource for resource in document["resources"]}
    taggable = [r for r in document["resources"] if r["custom"] and is_aws_taggable(r["type"])]
    assert {"aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:kms/key:Key"} <= {r["type"] for r in taggable}
    for resource in taggable:
        # The components' `tags` argument tags them, not the provider's default tags (it has none).
        assert "defaultTags" not in by_urn[resource["provider"].rsplit("::", 1)[0]]["inputs"], resource["urn"]
        assert TEAM_TAGS.items() <= resource["inputs"]["tags"].items(), resource["urn"]


def test_a_secure_value_reaches_the_program_as_a_secret_and_is_never_printed(consumer_preview):
    completed, document = consumer_preview
    assert document["outputs"]["registry_token"] == "[secret]"
    assert SECURE_PLACEHOLDER not in completed.stdout + json.dumps(document)


def project_with_virtualenv(install: ConsumerInstall, directory: Path, virtualenv: Path) -> Path:
    """A copy of the consumer project (without its venv) whose Pulumi.yaml names ``virtualenv``."""
    shutil.copytree(install.project, directory, ignore=shutil.ignore_patterns("venv"))
    document = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    document["runtime"]["options"]["virtualenv"] = str(virtualenv)
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(document))
    return directory


def test_the_preview_started_from_another_python_runs_in_the_program_virtualenv(install, tmp_path):
    project = project_with_virtualenv(install, tmp_path / "project", install.venv)
    with (project / "__main__.py").open("a") as program:
        program.write("\nimport sys\n\npulumi.export('python', sys.prefix)\n")
    completed = _run([sys.executable, "-m", "mlops_platform_offline.preview", "dev", "--program", project,
                      "--no-policy"], cwd=ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"python: {json.dumps(str(install.venv))}" in completed.stdout


def test_a_virtualenv_without_the_offline_tools_is_refused_in_one_line(install, tmp_path):
    bare = tmp_path / "bare-venv"
    _checked(["uv", "venv", "--quiet", "--python", sys.executable, bare])
    project = project_with_virtualenv(install, tmp_path / "project", bare)
    completed = _run([install.venv / "bin" / "mlops-preview", "dev", "--program", project], env=_clean_env())
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert f"{bare} does not have the offline tools; install them there" in completed.stderr


def test_the_consumer_tests_its_program_with_the_pytest_fixture(install):
    # The pytest script, not `python -m pytest`, which would put the project on sys.path itself.
    completed = _run([install.venv / "bin" / "pytest", "-q", "-p", "no:cacheprovider",
                      install.project / "tests" / "check_program.py"], cwd=install.project, env=_clean_env())
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout
