"""GKE Workload Identity: one Kubernetes ServiceAccount per Google service account, bucket access only, the prefix
condition evaluated as IAM would evaluate it (CEL), and account ids legal for every name a stack can produce."""

from __future__ import annotations

import random
import re

import celpy
import pytest
from celpy import celtypes

from mlops_platform.gcp.account_ids import ACCOUNT_ID_PATTERN, account_id
from mlops_platform.gcp.workload_identity import LIST_PREFIX_ATTRIBUTE, WorkloadIdentity
from mlops_platform.platform import NAME_PATTERN
from mlops_platform.validation import DNS_LABEL
from mlops_platform_offline.harness import ProgramError, run_function

PROJECT = "acme-mlops"
IDENTITY = {"workload_pool": f"{PROJECT}.svc.id.goog", "namespace": "models", "service_account": "churn",
            "account_id": "mlops-models-churn", "project": PROJECT, "bucket": "mlops-artifacts-1a2b3c4d"}
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def identity(**args):
    return run_function(lambda: WorkloadIdentity("wi", {**IDENTITY, **args}))


def test_the_account_is_bound_to_exactly_one_kubernetes_service_account():
    plan = identity()
    [binding] = plan.all("gcp:serviceaccount/iAMMember:IAMMember")
    account = plan.one("gcp:serviceaccount/account:Account")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[models/churn]"
    assert binding.inputs["serviceAccountId"] == account.outputs["name"]
    assert account.inputs["accountId"] == "mlops-models-churn"


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_every_workload_identity_of_a_stack_names_one_namespace_and_name(preview, stack):
    members = sorted(b.inputs["member"] for b in preview(stack).all("gcp:serviceaccount/iAMMember:IAMMember"))
    project = "acme-mlops-dev" if stack == "gcp-dev" else "acme-mlops-prod"
    assert members == [f"serviceAccount:{project}.svc.id.goog[mlflow/database-bootstrap]",
                       f"serviceAccount:{project}.svc.id.goog[mlflow/mlflow]",
                       f"serviceAccount:{project}.svc.id.goog[models/churn]"]


def test_the_annotation_names_the_google_service_account():
    def program():
        import pulumi

        created = WorkloadIdentity("wi", IDENTITY)
        pulumi.export("annotations", created.service_account_annotations)
        pulumi.export("labels", created.service_account_labels)

    outputs = run_function(program).outputs
    assert outputs["annotations"] == {"iam.gke.io/gcp-service-account":
                                      f"mlops-models-churn@{PROJECT}.iam.gserviceaccount.com"}
    assert outputs["labels"] == {}


@pytest.mark.parametrize(("read_only", "role"), [(False, "roles/storage.objectUser"),
                                                 (True, "roles/storage.objectViewer")])
def test_object_access_on_its_bucket_only_and_nothing_at_project_level(read_only, role):
    plan = identity(read_only=read_only)
    [grant] = plan.all(BUCKET_MEMBER)
    assert (grant.inputs["bucket"], grant.inputs["role"]) == (IDENTITY["bucket"], role)
    assert grant.inputs["member"] == plan.one("gcp:serviceaccount/account:Account").outputs["member"]
    assert "condition" not in grant.inputs
    assert plan.all("gcp:projects/iAMMember:IAMMember") == []


def test_a_database_user_is_an_iam_user_of_its_instance_and_may_connect_to_it_only():
    plan = identity(database_instance="mlops-mlflow")
    user = plan.one("gcp:sql/user:User").inputs
    assert user == {"instance": "mlops-mlflow", "project": PROJECT, "type": "CLOUD_IAM_SERVICE_ACCOUNT",
                    "name": f"mlops-models-churn@{PROJECT}.iam"}
    grants = {m.inputs["role"]: m.inputs["condition"]["expression"] for m in plan.all("gcp:projects/iAMMember:IAMMember")}
    assert set(grants) == {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
    program = _compiled(next(iter(grants.values())))
    assert _evaluate(program, service="sqladmin.googleapis.com", name=f"projects/{PROJECT}/instances/mlops-mlflow")
    assert not _evaluate(program, service="sqladmin.googleapis.com", name=f"projects/{PROJECT}/instances/other")
    assert not _evaluate(program, service="sqladmin.googleapis.com",
                         name=f"projects/other-project/instances/mlops-mlflow")


def test_only_the_admin_is_a_cloudsqlsuperuser_and_it_needs_no_bucket():
    plan = run_function(lambda: WorkloadIdentity("admin", {**{k: v for k, v in IDENTITY.items() if k != "bucket"},
                                                           "database_instance": "mlops-mlflow",
                                                           "database_superuser": True}))
    assert plan.one("gcp:sql/user:User").inputs["databaseRoles"] == ["cloudsqlsuperuser"]
    assert plan.all(BUCKET_MEMBER) == []


# --- the prefix condition, evaluated ------------------------------------------------------------------------------

def _compiled(expression: str):
    environment = celpy.Environment()
    return environment, environment.compile(expression)


def _evaluate(program, *, name: str, service: str = "storage.googleapis.com", list_prefix: str | None = None) -> bool:
    """Evaluate a condition as IAM does: ``resource.name``/``resource.service`` of the request, and
    ``api.getAttribute`` answering the list prefix of a list request (and the default otherwise)."""
    environment, ast = program

    def get_attribute(_api, key, default):
        if str(key) == LIST_PREFIX_ATTRIBUTE and list_prefix is not None:
            return celtypes.StringType(list_prefix)
        return default

    runnable = environment.program(ast, functions={"getAttribute": get_attribute})
    activation = {"resource": celtypes.MapType({celtypes.StringType("name"): celtypes.StringType(name),
                                                celtypes.StringType("service"): celtypes.StringType(service)}),
                  "api": celtypes.MapType({})}
    return bool(runnable.evaluate(activation))


@pytest.fixture(scope="module")
def prefix_condition():
    [grant] = identity(prefix="models/churn/").all(BUCKET_MEMBER)
    return _compiled(grant.inputs["condition"]["expression"])


OBJECTS = "projects/_/buckets/mlops-artifacts-1a2b3c4d/objects/"


@pytest.mark.parametrize("name", ["models/churn/1/model.pkl", "models/churn/MLmodel", "models/churn/"])
def test_objects_under_the_prefix_are_allowed(prefix_condition, name):
    assert _evaluate(prefix_condition, name=OBJECTS + name)


@pytest.mark.parametrize("name", ["models/fraud/1/model.pkl", "models/churn-evil/model.pkl", "models/churn",
                                  "other/models/churn/model.pkl", "secrets.txt"])
def test_objects_outside_the_prefix_are_denied(prefix_condition, name):
    assert not _evaluate(prefix_condition, name=OBJECTS + name)


def test_the_same_prefix_in_another_bucket_is_denied(prefix_condition):
    assert not _evaluate(prefix_condition, name="projects/_/buckets/someone-else/objects/models/churn/model.pkl")


@pytest.mark.parametrize(("list_prefix", "allowed"), [("models/churn/", True), ("models/churn/1/", True),
                                                      ("models/", False), ("", False), (None, False)])
def test_listing_is_allowed_only_within_the_prefix(prefix_condition, list_prefix, allowed):
    bucket = "projects/_/buckets/mlops-artifacts-1a2b3c4d"
    assert _evaluate(prefix_condition, name=bucket, list_prefix=list_prefix) is allowed


# --- account ids --------------------------------------------------------------------------------------------------

def _platform_names(count: int) -> list[str]:
    generator = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    names = ["ab", "a" * 24, "mlops-gcp-dev", "mlops-gcp-prod", "x1"]
    while len(names) < count:
        body = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 22)))
        candidate = generator.choice("abcxyz") + body + generator.choice("abc019")
        if re.fullmatch(NAME_PATTERN, candidate):
            names.append(candidate)
    return names


def _service_accounts(count: int) -> list[str]:
    generator = random.Random(12)
    names = ["mlflow-mlflow", "models-a", "models-" + "e" * 63, "nodes"]
    while len(names) < count:
        label = "".join(generator.choice("abcdefghij0123456789-") for _ in range(generator.randint(1, 61)))
        label = f"e{label}9"
        if re.fullmatch(DNS_LABEL, label):
            names.append(f"models-{label}")
    return names


def test_every_platform_and_workload_name_gives_a_legal_distinct_account_id():
    seen: dict[str, tuple[str, str]] = {}
    for base in _platform_names(60):
        for role in _service_accounts(40):
            result = account_id(base, role)
            assert re.fullmatch(ACCOUNT_ID_PATTERN, result) and 6 <= len(result) <= 30, (base, role, result)
            assert seen.setdefault(result, (base, role)) == (base, role), f"{result} collides"


def test_a_short_name_keeps_its_readable_form():
    assert account_id("mlops-gcp-dev", "models-churn") == "mlops-gcp-dev-models-churn"
    assert account_id("ab", "nodes") == "ab-nodes"


@pytest.mark.parametrize(("args", "message"), [
    ({"workload_pool": "acme-mlops"}, r"^workload_identity\.workload_pool: 'acme-mlops' is not allowed"),
    ({"namespace": "Models"}, r"^workload_identity\.namespace: 'Models' is not allowed"),
    ({"service_account": "a/b"}, r"^workload_identity\.service_account: 'a/b' is not allowed"),
    ({"account_id": "short"}, r"^workload_identity\.account_id: 'short' is not allowed; use 6 to 30"),
    ({"account_id": "a" * 31}, r"^workload_identity\.account_id: 'a{31}' is not allowed"),
    ({"project": None}, r"^workload_identity\.project: missing"),
    ({"database_superuser": True}, r"^workload_identity\.database_superuser: True is not allowed without "
                                   r"database_instance"),
    ({"prefix": "models"}, r"^workload_identity\.prefix: 'models' is not allowed; use an object prefix ending"),
    ({"prefix": 'models"/'}, r"^workload_identity\.prefix: .* is not allowed"),
    ({"read_only": "yes"}, r"^workload_identity\.read_only: 'yes' is not allowed"),
    ({"roles": ["roles/owner"]}, r"^workload_identity\.roles: unknown key"),
])
def test_bad_identity_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        identity(**args)
    assert raised.value.registered == []
