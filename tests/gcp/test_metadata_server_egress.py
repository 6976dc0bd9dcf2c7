"""Pods with GKE Workload Identity get their tokens from the GKE metadata server; under the namespaces'
default-deny egress, the rendered NetworkPolicies must let exactly the pods that carry an identity reach it, on the
addresses and ports GKE answers on (169.254.169.254:80 before Dataplane V2's translation, 169.254.169.252:988 on
the legacy dataplane), and nothing more there."""

from __future__ import annotations

import pytest

from tests.network_policies import egress_allowed, network_policies, pod_template_labels

METADATA_SERVER = (("169.254.169.254", 80), ("169.254.169.252", 988))
WITH_IDENTITY = {"mlops-kubernetes-mlflow-server": "kubernetes:apps/v1:Deployment",
                 "mlops-kubernetes-mlflow-db-upgrade": "kubernetes:batch/v1:Job",
                 "mlops-kubernetes-mlflow-database-bootstrap-job": "kubernetes:batch/v1:Job"}
"""The MLflow server and its two database Jobs: each signs in to Cloud SQL through the proxy with its identity."""


def identity_pods(plan):
    pods = {name: pod_template_labels(plan.one(kind, name).inputs) for name, kind in WITH_IDENTITY.items()}
    for deployment in plan.all("kubernetes:apps/v1:Deployment"):
        namespace, labels = pod_template_labels(deployment.inputs)
        if namespace == "models":
            pods[deployment.name] = (namespace, labels)
    return pods


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_every_pod_with_a_workload_identity_may_reach_the_gke_metadata_server(preview, stack):
    plan = preview(stack)
    policies = network_policies(plan)
    pods = identity_pods(plan)
    assert any(namespace == "models" for namespace, _ in pods.values()), "the stack renders no model endpoint"
    blocked = [(name, address, port) for name, (namespace, labels) in pods.items()
               for address, port in METADATA_SERVER if not egress_allowed(policies, namespace, labels, address, port)]
    assert blocked == []


def test_the_metadata_server_is_open_on_its_token_ports_only(preview):
    plan = preview("gcp-dev")
    policies = network_policies(plan)
    namespace, labels = pod_template_labels(plan.one(WITH_IDENTITY["mlops-kubernetes-mlflow-server"],
                                                     "mlops-kubernetes-mlflow-server").inputs)
    assert not egress_allowed(policies, namespace, labels, "169.254.169.254", 8080)
    assert not egress_allowed(policies, namespace, labels, "169.254.169.252", 80)
    assert not egress_allowed(policies, namespace, labels, "169.254.169.253", 988)


def test_a_pod_without_an_identity_stays_off_the_metadata_server(preview):
    """The users Job talks to the MLflow server only."""
    plan = preview("gcp-dev")
    users = next(job for job in plan.all("kubernetes:batch/v1:Job") if job.name.endswith("-mlflow-users"))
    namespace, labels = pod_template_labels(users.inputs)
    policies = network_policies(plan)
    assert [port for address, port in METADATA_SERVER
            if egress_allowed(policies, namespace, labels, address, port)] == []


def test_other_clouds_open_no_metadata_address(preview):
    """IRSA and Entra workload identity trade a projected token over HTTPS: no pod needs a link-local address."""
    for stack in ("aws-dev", "azure-dev"):
        plan = preview(stack)
        policies = network_policies(plan)
        namespace, labels = pod_template_labels(plan.one("kubernetes:apps/v1:Deployment",
                                                         "mlops-kubernetes-mlflow-server").inputs)
        assert not egress_allowed(policies, namespace, labels, "169.254.169.254", 80), stack


# --- the evaluator itself reads policies as Kubernetes does -------------------------------------------------------

def _policy(namespace, selector, egress, types=("Egress",)):
    return {"metadata": {"namespace": namespace},
            "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": list(types), "egress": egress}}


DENY_ALL = _policy("ns", {}, [])
TO_BLOCK = _policy("ns", {"app": "a"}, [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                                         "ports": [{"protocol": "TCP", "port": 5432}]}])


@pytest.mark.parametrize("policies, labels, address, port, allowed", [
    ([], {"app": "a"}, "10.0.0.1", 5432, True),
    ([DENY_ALL], {"app": "a"}, "10.0.0.1", 5432, False),
    ([DENY_ALL, TO_BLOCK], {"app": "a"}, "10.0.0.1", 5432, True),
    ([DENY_ALL, TO_BLOCK], {"app": "a"}, "10.1.0.1", 5432, False),
    ([DENY_ALL, TO_BLOCK], {"app": "a"}, "10.0.0.1", 5433, False),
    ([DENY_ALL, TO_BLOCK], {"app": "b"}, "10.0.0.1", 5432, False),
    ([DENY_ALL, _policy("ns", {}, [{"ports": [{"protocol": "TCP", "port": 443}]}])], {}, "1.2.3.4", 443, True),
    ([DENY_ALL, _policy("ns", {}, [{"to": [{"namespaceSelector": {}}]}])], {}, "1.2.3.4", 443, False),
    ([_policy("other", {}, [])], {"app": "a"}, "10.0.0.1", 5432, True),
])
def test_egress_allowed_reads_selectors_blocks_and_ports(policies, labels, address, port, allowed):
    assert egress_allowed(policies, "ns", labels, address, port) is allowed
