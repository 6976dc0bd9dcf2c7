"""Benchmark the policy pack on a synthetic stack of 10,000 mixed resources, through the real gRPC pack.

    .venv/bin/python -m benchmarks.policy_benchmark [--resources 10000]

Runs ``Analyze`` for every resource and ``AnalyzeStack`` once, as the engine does, and reports resources per second
for the whole run, the time of each phase, and the bare gRPC round trip (``GetPluginInfo``, which runs no rule), so
the cost of the transport and of pulumi-policy's per-policy request decoding can be told apart from the rules'.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from google.protobuf import empty_pb2

from infra.analyzer import PolicyPackProcess, reconcile_config
from infra.harness import Preview, RecordedResource

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"
TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops",
        "managed-by": "pulumi"}


def _deployment(i: int) -> tuple[str, dict]:
    container = {
        "name": "server", "image": f"ghcr.io/org/model:{i % 7}.0", "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
    }
    return "kubernetes:apps/v1:Deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"m{i}", "namespace": "models", "labels": TAGS},
        "spec": {"template": {"metadata": {"labels": {"app": f"m{i}"}}, "spec": {
            "automountServiceAccountToken": False, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container]}}}}


def _mix(i: int) -> tuple[str, dict]:
    kind = i % 10
    if kind < 4:
        return _deployment(i)
    if kind == 4:
        return "kubernetes:core/v1:Service", {"metadata": {"name": f"s{i}", "namespace": "models", "labels": TAGS},
                                             "spec": {"type": "ClusterIP", "selector": {"app": f"m{i}"}}}
    if kind == 5:
        return "aws:s3/bucket:Bucket", {"bucketPrefix": f"b{i}-", "tags": TAGS}
    if kind == 6:
        return "aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": json.dumps({"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/*"}]})}
    if kind == 7:
        return "aws:rds/instance:Instance", {"engine": "postgres", "engineVersion": "16.4", "storageEncrypted": True,
                                             "backupRetentionPeriod": 7, "deletionProtection": True, "tags": TAGS}
    if kind == 8:
        return "gcp:storage/bucket:Bucket", {"publicAccessPrevention": "enforced", "labels": TAGS,
                                             "uniformBucketLevelAccess": True}
    return "kubernetes:core/v1:ConfigMap", {"metadata": {"name": f"c{i}", "namespace": "models", "labels": TAGS},
                                            "data": {"k": "v"}}


def synthetic_stack(count: int) -> Preview:
    resources = []
    for i in range(count):
        type_, inputs = _mix(i)
        resources.append(RecordedResource(
            urn=f"urn:pulumi:bench::mlops::{type_}::r{i}", type=type_, name=f"r{i}", parent="", provider="",
            custom=True, protect=True, inputs=inputs, dependencies=(), property_dependencies={}, outputs={}))
    return Preview("mlops", "bench", resources, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=10_000)
    args = parser.parse_args()
    preview = synthetic_stack(args.resources)
    with PolicyPackProcess(PACK_DIR, project="mlops", stack="bench") as pack:
        policies, initial = pack.info()
        pack.configure(reconcile_config(policies, initial, {}))
        pack.configure_stack("mlops", "bench")

        rounds = []
        for _ in range(2000):
            started = time.perf_counter()
            pack.stub.GetPluginInfo(empty_pb2.Empty())
            rounds.append(time.perf_counter() - started)

        resource_only = Preview("mlops", "bench", [], {})
        started = time.perf_counter()
        violations = pack.analyze(preview)
        total = time.perf_counter() - started
        started = time.perf_counter()
        pack.analyze(resource_only)  # AnalyzeStack of an empty stack: the fixed cost of one stack call
        empty_stack = time.perf_counter() - started
        one = Preview("mlops", "bench", preview.resources[:1], {})
        started = time.perf_counter()
        for _ in range(200):
            pack.analyze(one)
        per_single = (time.perf_counter() - started) / 200

    resource_policies = sum(1 for p in policies if p.kind == "resource")
    print(f"policies: {len(policies)} ({resource_policies} resource, {len(policies) - resource_policies} stack)")
    print(f"resources: {len(preview.resources)}; violations found: {len(violations)}")
    print(f"whole run (Analyze x{len(preview.resources)} + AnalyzeStack x1): {total:.2f} s "
          f"= {len(preview.resources) / total:,.0f} resources/s")
    print(f"bare gRPC round trip (GetPluginInfo): median {statistics.median(rounds) * 1e6:.0f} us "
          f"-> at most {1 / statistics.median(rounds):,.0f} calls/s on this machine")
    print(f"Analyze+AnalyzeStack of one resource: {per_single * 1e3:.2f} ms; empty AnalyzeStack: "
          f"{empty_stack * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
