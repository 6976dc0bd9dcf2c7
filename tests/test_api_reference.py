"""The API reference (docs/api-reference.md) is what the components say about themselves, so it cannot drift."""

from pathlib import Path

from mlops_platform_offline import api_reference

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "api-reference.md"


def test_the_committed_reference_is_what_the_components_generate(capsys):
    status = api_reference.main(["--check", "--output", str(REFERENCE)])
    assert status == 0, capsys.readouterr().err


def test_every_component_is_listed_with_its_inputs_and_outputs():
    found = {component.token: component for component in api_reference.components()}
    text = REFERENCE.read_text()
    for token, component in found.items():
        assert f"## {token}\n" in text
        assert component.inputs, f"{token}: no inputs found in {component.args_name}"
    store = found["mlops:aws:ArtifactStore"]
    days = next(field for field in store.inputs if field.name == "noncurrent_days")
    assert (days.type, days.required, days.default) == ("int", False, "30")
    assert {"name", "uri", "pod_env"} <= {output.name for output in store.outputs}


def test_a_changed_docstring_makes_the_check_fail(tmp_path, capsys):
    stale = tmp_path / "api-reference.md"
    stale.write_text(REFERENCE.read_text().replace("Days a replaced or deleted object version is kept",
                                                   "Days an old version is kept", 1))
    assert api_reference.main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
