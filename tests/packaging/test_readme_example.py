"""The README's "Use it in your own program" shows the consumer program and its test exactly as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = Path(__file__).resolve().parent / "consumer"


@pytest.mark.parametrize("path", ["__main__.py", "tests/check_program.py"])
def test_the_readme_shows_the_consumer_file_verbatim(path):
    assert f"```python\n{(CONSUMER / path).read_text()}```\n" in (ROOT / "README.md").read_text()
