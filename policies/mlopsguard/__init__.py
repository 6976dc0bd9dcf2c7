"""mlopsguard: the CrossGuard policy pack of the MLOps platform, as importable rule modules.

Each module holds the rules of one domain and lists them in ``POLICIES``; :func:`all_policies` gathers them in a
fixed order; :func:`mlopsguard.pack.serve` builds the pack from them. The pack depends on pulumi-policy alone.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import clusters, cost, databases, iam, kubernetes_platform, mlops, public_access, storage, workloads

PACK_NAME = "mlops-platform"
PACK_DESCRIPTION = "Compliance and cost rules for MLOps platforms on AWS, GCP, Azure and Kubernetes."
PACK_VERSION = "0.1.0"
"""The pack's version, as ``policies/PulumiPolicy.yaml`` states it."""

_DOMAINS = (cost, storage, clusters, databases, iam, workloads, kubernetes_platform, mlops, public_access)


def all_policies() -> list[Policy]:
    """Every policy of the pack, grouped by domain."""
    return [policy for domain in _DOMAINS for policy in domain.POLICIES]
