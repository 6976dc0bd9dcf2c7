"""The Pulumi program: one stack's config in, one MLOps platform out."""

import sys
from pathlib import Path

if not __package__:  # run by the Pulumi CLI as a program directory: make `infra` and `components` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import run  # noqa: E402

run()
