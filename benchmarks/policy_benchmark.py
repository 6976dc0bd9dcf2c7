"""Benchmark the policy pack through its real gRPC interface, on synthetic stacks of mixed resources.

    .venv/bin/python -m benchmarks.policy_benchmark [--sizes 1000 2000 4000 8000] [--total 10000]

Prints, in one run: the bare gRPC round trip (``GetPluginInfo``, which runs no rule: the floor of one call on this
machine); for each size, resources per second of ``Analyze`` (one call per resource) and of ``AnalyzeStack`` (one
call for the stack) separately, with ``AnalyzeStack``'s time per resource, so its growth with the stack is visible;
and the figure for ``--total`` resources: ``Analyze`` for each plus one ``AnalyzeStack``, as a preview sends them.
Requests are encoded before the clock starts (the engine, not the pack, encodes them). Beside wall-clock rates it
prints the CPU time the pack's own process spent per resource, which other work on the machine does not inflate,
and the load average, which says how much other work there was.

The mix is what a platform stack holds: Kubernetes workloads, Services and ConfigMaps; S3 buckets each with a
public access block, encryption and versioning linked by property dependency; RDS instances each with a parameter
group; GCS buckets and IAM policies. Every stack rule that looks up a bucket's or database's settings has one per
bucket or database to find, which is what made ``AnalyzeStack`` grow with the square of the stack.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import empty_pb2

from mlops_platform_offline.analyzer import PolicyPackProcess, encode_requests, reconcile_config
from mlops_platform_offline.harness import Preview, RecordedResource

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"
PROJECT, STACK = "mlops", "bench"
TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops",
        "managed-by": "pulumi"}
ROUND_TRIPS = 2000


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def _resource(type_: str, name: str, inputs: dict, refs: dict[str, str] | None = None) -> RecordedResource:
    property_dependencies = {prop: (urn,) for prop, urn in (refs or {}).items()}
    return RecordedResource(
        urn=_urn(type_, name), type=type_, name=name, parent="", provider="", custom=True, protect=True,
        inputs=inputs, dependencies=tuple((refs or {}).values()),
        property_dependencies=property_dependencies, outputs={})


def _deployment(i: int) -> RecordedResource:
    container = {
        "name": "server", "image": f"ghcr.io/org/model:{i % 7}.0", "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
    }
    return _resource("kubernetes:apps/v1:Deployment", f"m{i}", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"m{i}", "namespace": "models", "labels": TAGS},
        "spec": {"template": {"metadata": {"labels": {"app": f"m{i}"}}, "spec": {
            "automountServiceAccountToken": False, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container]}}}})


def _bucket_group(i: int) -> list[RecordedResource]:
    """An S3 bucket and three of its settings, linked the way the program links them (property dependencies)."""
    bucket = _resource("aws:s3/bucket:Bucket", f"b{i}", {"bucketPrefix": f"b{i}-", "tags": TAGS})
    ref = {"bucket": bucket.urn}
    return [
        bucket,
        _resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"b{i}-pab", {
            "bucket": f"b{i}-1", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}, ref),
        _resource("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                  f"b{i}-enc", {"bucket": f"b{i}-1", "rules": [
                      {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}, ref),
        _resource("aws:s3/bucketVersioning:BucketVersioning", f"b{i}-ver", {
            "bucket": f"b{i}-1", "versioningConfiguration": {"status": "Enabled"}}, ref),
    ]


def _database_group(i: int) -> list[RecordedResource]:
    group = _resource("aws:rds/parameterGroup:ParameterGroup", f"pg{i}", {
        "name": f"pg{i}", "family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]})
    database = _resource("aws:rds/instance:Instance", f"db{i}", {
        "engine": "postgres", "engineVersion": "16.4", "storageEncrypted": True, "backupRetentionPeriod": 7,
        "deletionProtection": True, "parameterGroupName": f"pg{i}", "tags": TAGS}, {"parameterGroupName": group.urn})
    return [group, database]


def _group(i: int) -> list[RecordedResource]:
    """Ten resources of the mix, numbered from ``i``."""
    return [
        *(_deployment(i + k) for k in range(3)),
        _resource("kubernetes:core/v1:Service", f"s{i}", {
            "metadata": {"name": f"s{i}", "namespace": "models", "labels": TAGS},
            "spec": {"type": "ClusterIP", "selector": {"app": f"m{i}"}}}),
        *_bucket_group(i),
        *_database_group(i),
        _resource("gcp:storage/bucket:Bucket" if i % 20 else "aws:iam/rolePolicy:RolePolicy", f"g{i}", {
            "publicAccessPrevention": "enforced", "labels": TAGS, "uniformBucketLevelAccess": True} if i % 20 else {
            "role": "r", "policy": json.dumps({"Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/*"}]})}),
    ]


def synthetic_stack(count: int) -> Preview:
    """A stack of ``count`` resources of the mix."""
    resources: list[RecordedResource] = []
    i = 0
    while len(resources) < count:
        resources.extend(_group(i))
        i += 10
    return Preview(PROJECT, STACK, resources[:count], {})


def _round_trip(pack: PolicyPackProcess) -> tuple[float, float]:
    """The median seconds of a ``GetPluginInfo`` call, and the pack's CPU seconds per call."""
    times = []
    cpu = pack.cpu_seconds()
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        pack.stub.GetPluginInfo(empty_pb2.Empty())
        times.append(time.perf_counter() - started)
    return statistics.median(times), (pack.cpu_seconds() - cpu) / ROUND_TRIPS


@dataclass(frozen=True)
class Measurement:
    count: int
    analyze: float
    """Seconds of ``Analyze`` for every resource."""
    stack: float
    """Seconds of one ``AnalyzeStack``."""
    analyze_cpu: float
    """CPU seconds the pack's process spent in those ``Analyze`` calls."""
    stack_cpu: float
    violations: int


def _measure(pack: PolicyPackProcess, count: int) -> Measurement:
    requests = encode_requests(synthetic_stack(count))
    cpu, started = pack.cpu_seconds(), time.perf_counter()
    found = pack.analyze_resources(requests)
    analyze, analyze_cpu = time.perf_counter() - started, pack.cpu_seconds() - cpu
    cpu, started = pack.cpu_seconds(), time.perf_counter()
    found += pack.analyze_stack(requests)
    return Measurement(count, analyze, time.perf_counter() - started, analyze_cpu, pack.cpu_seconds() - cpu,
                       len(found))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--total", type=int, default=10_000)
    args = parser.parse_args(argv)
    with PolicyPackProcess(PACK_DIR, project=PROJECT, stack=STACK) as pack:
        policies, initial = pack.info()
        pack.configure(reconcile_config(policies, initial, {}))
        pack.configure_stack(PROJECT, STACK)
        resource_policies = sum(1 for p in policies if p.kind == "resource")
        print(f"policies: {len(policies)} ({resource_policies} resource, {len(policies) - resource_policies} stack)")
        round_trip, round_trip_cpu = _round_trip(pack)
        print(f"bare gRPC round trip (GetPluginInfo, median of {ROUND_TRIPS}): {round_trip * 1e6:.0f} us "
              f"-> at most {1 / round_trip:,.0f} calls/s; pack CPU {round_trip_cpu * 1e6:.0f} us per call")
        print(f"{'resources':>9} | {'Analyze/s':>9} | {'AnalyzeStack/s':>14} | {'AnalyzeStack us/resource':>24} | "
              f"{'pack CPU us/resource (Analyze, AnalyzeStack)':>44} | violations")
        per_resource = {}
        for count in args.sizes:
            m = _measure(pack, count)
            per_resource[count] = m.stack / count
            print(f"{count:>9} | {count / m.analyze:>9,.0f} | {count / m.stack:>14,.0f} | "
                  f"{m.stack / count * 1e6:>24,.0f} | "
                  f"{f'{m.analyze_cpu / count * 1e6:,.0f}, {m.stack_cpu / count * 1e6:,.0f}':>44} | {m.violations}")
        if len(args.sizes) > 1:
            first, last = args.sizes[0], args.sizes[-1]
            print(f"AnalyzeStack time per resource at {last} / at {first}: "
                  f"{per_resource[last] / per_resource[first]:.2f}x")
        m = _measure(pack, args.total)
        total = m.analyze + m.stack
        print(f"{args.total} resources, Analyze x{args.total} + AnalyzeStack x1: {total:.2f} s = "
              f"{args.total / total:,.0f} resources/s (Analyze {m.analyze:.2f} s, AnalyzeStack {m.stack:.2f} s; "
              f"pack CPU {m.analyze_cpu + m.stack_cpu:.2f} s; {m.violations} violations); round trip in this run "
              f"{round_trip * 1e6:.0f} us")
    print(f"machine load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
