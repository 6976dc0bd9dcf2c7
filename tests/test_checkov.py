"""checkov, run on the Kubernetes objects of every stack's preview and on both Dockerfiles, reports no failed check
that ``tests/checkov_skips.yaml`` does not list with its reason; and every listed skip still matches a failure.

checkov conflicts with this project's dependencies (it pins ``packaging<24``, Pulumi needs 26), so ``.ci/setup``
installs it into its own environment, ``.venv-checkov``, from ``.ci/checkov.lock``."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.harness import ProjectFiles
from tests.kubernetes.rendering import kubernetes_objects
from tests.kubernetes_schema import object_from_resource

ROOT = Path(__file__).resolve().parent.parent
STACKS = ProjectFiles.load(ROOT).stacks()
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
DOCKERFILES = ("serving_image/Dockerfile", "serving_image/tracking/Dockerfile")
SKIPS = yaml.safe_load((Path(__file__).parent / "checkov_skips.yaml").read_text())

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHECKOV.exists(), reason="run .ci/setup: no .venv-checkov")]


def run_checkov(directory: Path) -> list[dict]:
    """checkov on ``directory`` (Kubernetes manifests and Dockerfiles), offline: its failed checks."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # no download of guideline links (no network here)
    result = subprocess.run([str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "dockerfile",
                             "-o", "json", "--quiet", "--compact"], capture_output=True, text=True, env=env,
                            timeout=600)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [failed for report in reports for failed in report["results"]["failed_checks"]]


@pytest.fixture(scope="module")
def failures(preview, tmp_path_factory) -> list[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("checkov")
    for stack in STACKS:
        manifests = [object_from_resource(resource) for resource in kubernetes_objects(preview(stack))]
        (directory / f"{stack}.yaml").write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    for dockerfile in DOCKERFILES:
        target = directory / "docker" / dockerfile
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / dockerfile, target)
    found = []
    for failed in run_checkov(directory):
        path = failed["file_path"].lstrip("/")
        where = (f"Dockerfile:{path.removeprefix('docker/')}" if path.startswith("docker/")
                 else f"{path}:{failed['resource']}")
        found.append((failed["check_id"], where))
    return found


def _skipped(check: str, where: str) -> bool:
    return any(skip["check"] == check and any(fnmatch.fnmatchcase(where, p) for p in skip["where"]) for skip in SKIPS)


def test_every_failed_check_is_a_listed_skip_with_its_reason(failures):
    assert failures, "checkov reported nothing: it did not read the manifests"
    assert sorted({f for f in failures if not _skipped(*f)}) == []


def test_every_skip_still_matches_a_failure_and_says_why(failures):
    for skip in SKIPS:
        assert len(skip["reason"]) > 40, skip["check"]
        assert any(check == skip["check"] and any(fnmatch.fnmatchcase(where, p) for p in skip["where"])
                   for check, where in failures), f"stale skip {skip['check']}: nothing fails it any more"


def test_checkov_catches_what_it_must(tmp_path):
    """Guards the tests above: a privileged root container fails checks that no skip covers."""
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "models"},
        "spec": {"containers": [{"name": "c", "image": "x:1", "securityContext": {"privileged": True}}]}}))
    checks = {failed["check_id"] for failed in run_checkov(tmp_path)}
    assert "CKV_K8S_16" in checks and not _skipped("CKV_K8S_16", "bad.yaml:Pod.models.bad")
