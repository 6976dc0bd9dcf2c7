"""A program directory previews as the Pulumi CLI runs it: its own modules importable, secure values secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from mlops_platform_offline.harness import SECURE_PLACEHOLDER, ProjectFiles, preview_stack, read_stack_file


def project(directory: Path, greeting: str, config: dict | None = None, runtime: object = "python") -> Path:
    """A project whose program imports a sibling module and a ``components`` package of its own."""
    (directory / "components").mkdir(parents=True)
    (directory / "components" / "__init__.py").write_text(f"GREETING = {greeting!r}\n")
    (directory / "naming.py").write_text("def name(role):\n    return f'team-{role}'\n")
    (directory / "__main__.py").write_text(
        "import pulumi\nimport naming\nfrom components import GREETING\n\n"
        "config = pulumi.Config()\n"
        "pulumi.export(naming.name('greeting'), GREETING)\n"
        "pulumi.export('token', config.require_secret('token'))\n"
        "pulumi.export('token_length', config.require_secret('token').apply(len))\n")
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "team", "runtime": runtime}))
    (directory / "Pulumi.dev.yaml").write_text(yaml.safe_dump(
        {"config": config or {"team:token": {"secure": "v1:bm9uY2U=:Y2lwaGVydGV4dA=="}}}))
    return directory


def test_a_program_imports_its_own_sibling_module_and_components_package(tmp_path):
    preview = preview_stack(project(tmp_path, "hello"), "dev")
    assert preview.outputs["team-greeting"] == "hello"


def test_the_next_program_imports_its_own_package_of_the_same_name_not_the_previous_one(tmp_path):
    assert preview_stack(project(tmp_path / "a", "from a"), "dev").outputs["team-greeting"] == "from a"
    assert preview_stack(project(tmp_path / "b", "from b"), "dev").outputs["team-greeting"] == "from b"
    assert "components" not in sys.modules and str(tmp_path / "b") not in sys.path


def test_a_secure_value_reaches_the_program_as_a_secret_placeholder(tmp_path):
    directory = project(tmp_path, "hello")
    stack = read_stack_file(ProjectFiles.load(directory), "dev")
    assert stack.values["team:token"] == SECURE_PLACEHOLDER and stack.secret_keys == ("team:token",)
    outputs = preview_stack(directory, "dev").outputs
    assert outputs["token"] == "[secret]"
    assert outputs["token_length"] == "[secret]"  # derived from a secret, still one


def test_a_value_given_for_a_secure_key_replaces_the_placeholder_and_stays_secret(tmp_path):
    preview = preview_stack(project(tmp_path, "hello"), "dev", config={"team:token": "four"})
    assert preview.outputs["token"] == "[secret]" and preview.outputs["token_length"] == "[secret]"


@pytest.mark.parametrize(("runtime", "expected"), [
    ("python", None),
    ({"name": "python", "options": {"virtualenv": "venv"}}, "venv"),
    ({"name": "python", "options": {"toolchain": "uv"}}, ".venv"),
    ({"name": "python", "options": {"toolchain": "uv", "virtualenv": "envs/uv"}}, "envs/uv"),
])
def test_the_program_virtualenv_is_read_as_the_cli_reads_it(tmp_path, runtime, expected):
    files = ProjectFiles.load(project(tmp_path, "hello", runtime=runtime))
    assert files.virtualenv == (None if expected is None else (tmp_path / expected).absolute())
