"""Regenerate ``checkov_expectations.json`` from checkov's own verdicts on the reference fixtures.

Run once per checkov upgrade, from a scratch venv that has checkov (never the project's .venv):

    uv venv /tmp/checkov-venv && VIRTUAL_ENV=/tmp/checkov-venv uv pip install checkov
    /tmp/checkov-venv/bin/checkov -d ../shared/reference/checkov-k8s --framework kubernetes -o json > /tmp/checkov.json
    .venv/bin/python tests/policy/derive_checkov_expectations.py /tmp/checkov.json

Only the checks that a rule of the pack covers are kept, per object (file + checkov's ``Kind.namespace.name``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHECKS = ("CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13", "CKV_K8S_14",
          "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_20", "CKV_K8S_21", "CKV_K8S_22",
          "CKV_K8S_23", "CKV_K8S_26", "CKV_K8S_27", "CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_38", "CKV_K8S_43",
          "CKV_K8S_49")


def derive(report: dict) -> dict:
    objects: dict[str, dict[str, str]] = {}
    for verdict, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
        for check in report["results"][key]:
            if check["check_id"] not in CHECKS:
                continue
            name = f"{check['file_path'].lstrip('/')}#{check['resource']}"
            objects.setdefault(name, {})[check["check_id"]] = verdict
    return {
        "checkov_version": report["summary"]["checkov_version"],
        "fixtures": "bridgecrewio/checkov tests/kubernetes/checks/example_* at commit 03d5fdad",
        "objects": dict(sorted((k, dict(sorted(v.items()))) for k, v in objects.items())),
    }


if __name__ == "__main__":
    document = derive(json.loads(Path(sys.argv[1]).read_text()))
    target = Path(__file__).with_name("checkov_expectations.json")
    lines = [f"  {json.dumps(name)}: {json.dumps(checks)}" for name, checks in document["objects"].items()]
    header = {k: v for k, v in document.items() if k != "objects"}
    target.write_text(json.dumps(header)[:-1] + ', "objects": {\n' + ",\n".join(lines) + "\n}}\n")
    print(f"wrote {target}: {len(document['objects'])} objects, checkov {document['checkov_version']}")
