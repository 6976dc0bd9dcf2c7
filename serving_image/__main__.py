"""`python -m serving_image [--model-uri URI] [--port N] [--workers N]`: serve one MLflow model over HTTP.

Flags override the matching environment variables (see `serving_image.settings`); a bad setting stops the
process at once with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import os
import sys

from serving_image import __version__
from serving_image.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving_image", description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", help="MLflow model URI (overrides MODEL_URI)")
    parser.add_argument("--port", help="TCP port (overrides PORT)")
    parser.add_argument("--workers", help="worker processes (overrides WORKERS)")
    parser.add_argument("--version", action="version", version=__version__)
    arguments = parser.parse_args(argv)
    for flag, variable in (("model_uri", "MODEL_URI"), ("port", "PORT"), ("workers", "WORKERS")):
        if getattr(arguments, flag) is not None:
            os.environ[variable] = getattr(arguments, flag)  # workers are separate processes: they read the env
    try:
        settings = Settings.from_environ()
        if not settings.model_uri:
            raise SettingsError("MODEL_URI: '' is empty; set it (or --model-uri) to an MLflow model URI such as "
                                "models:/name@alias, runs:/<run-id>/model, s3://bucket/path or a local path")
    except SettingsError as error:
        print(f"serving_image: {error}", file=sys.stderr)
        return 2
    from serving_image.server import run

    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
