"""``mlflow db upgrade`` for the backend store named by ``MLFLOW_BACKEND_STORE_URI``.

The migration Job runs this instead of ``mlflow db upgrade <uri>`` so the URI never appears on a command line (the
pod spec's args, a process list): MLflow's own CLI is invoked in-process with the URI read from the environment.
The URI carries no password either; libpq reads it from ``PGPASSFILE`` or ``PGPASSWORD``.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "").strip()
    if not uri:
        print("schema upgrade: MLFLOW_BACKEND_STORE_URI: missing; set it to the backend store URI", file=sys.stderr)
        return 2
    from mlflow.cli import cli

    try:
        cli.main(args=["db", "upgrade", uri], prog_name="mlflow", standalone_mode=False)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
