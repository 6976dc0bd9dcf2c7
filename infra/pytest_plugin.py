"""The pytest fixture a consumer checks their own Pulumi program with, offline: ``mlops_preview``.

pytest loads this plugin through the ``pytest11`` entry point of ``pulumi-mlops-platform``; the fixture needs the
``[testing]`` extra. It returns :func:`mlops_platform_offline.program_check.check_program`::

    def test_my_program_is_compliant(mlops_preview):
        plan = mlops_preview("path/to/project", "dev")           # the directory of Pulumi.yaml, a stack name
        assert plan.mandatory_violations == []
        assert plan.one("aws:s3/bucket:Bucket").protect

The program runs in the test's own interpreter (the virtualenv pytest runs in), with its directory on ``sys.path``.
"""

from collections.abc import Callable

import pytest


@pytest.fixture
def mlops_preview() -> Callable[..., object]:
    """``mlops_preview(program_dir, stack, config=None, policy_pack=None, policy_config=None, policy=True)`` ->
    a ``CheckedPreview``: the recorded resources and outputs, and the policy pack's ``violations``."""
    # Imported when a test asks for the fixture: pytest loads the plugin in every session of an environment that
    # has the library, also where the [testing] extra is missing.
    from .program_check import check_program

    return check_program
