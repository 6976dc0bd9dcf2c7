"""Writes the list of taggable resource types that the policy pack reads (``policies/mlopsguard/taggable_types.json``).

The pack depends on pulumi-policy alone, so it cannot import the provider SDKs to ask which types take tags. This
module reads the installed SDKs' generated sources instead (fast, no imports): an AWS or Azure Native type is
taggable when its constructor takes ``tags``, a GCP type when it takes ``labels``. A test fails when the file is
out of date with the pinned SDKs; regenerate with ``python -m mlops_platform_offline.taggable_types``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

OUTPUT = Path(importlib.util.find_spec("mlopsguard").submodule_search_locations[0]) / "taggable_types.json"
"""Inside the mlopsguard package (``policies/mlopsguard/`` in this repository's editable install)."""
SDKS = {"aws": ("pulumi_aws", "tags"), "gcp": ("pulumi_gcp", "labels"), "azure-native": ("pulumi_azure_native", "tags")}

_TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'([^']+)'")
_INTERNAL_INIT = re.compile(r"def _internal_init\(__self__,(.*?)\):", re.S)
_VERSIONED_MODULE = re.compile(r"(^|/)v\d")


def taggable_types() -> dict[str, list[str]]:
    """Type tokens that take tags (labels on GCP), per cloud, read from the installed SDK sources."""
    result = {}
    for cloud, (package, argument) in SDKS.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{package} is not installed; run .ci/setup")
        root = Path(spec.origin).parent
        found = set()
        for source in root.rglob("*.py"):
            relative = source.relative_to(root).as_posix()
            if source.name.startswith("_") or _VERSIONED_MODULE.search(relative):
                continue  # helpers, and Azure's explicit API versions (the pack matches them by unversioned token)
            text = source.read_text()
            token = _TOKEN.search(text)
            init = _INTERNAL_INIT.search(text)
            if token and init and re.search(rf"\b{argument}:", init.group(1)):
                found.add(token.group(1))
        result[cloud] = sorted(found)
    return result


def main() -> int:
    OUTPUT.write_text(json.dumps(taggable_types(), indent=0, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
