"""The Pulumi program: one stack's config in, one MLOps platform out.

The Pulumi CLI runs this directory with the project's virtualenv (``Pulumi.yaml``), where the package is installed
(``.ci/setup`` installs it editable), so the program imports the offline tools and the library by their own names.
"""

from mlops_platform_offline.program import run

run()
