"""Who may sign in to RDS, and who may read its master secret, by behaviour where moto evaluates it.

- The bootstrap Job's identity reads the RDS-managed master secret and may do nothing else in Secrets Manager: its
  rendered policy on a moto user with IAM enforcement. Moto checks the action of every Secrets Manager call but
  against the resource ``*`` (it names no secret ARN when it authorises), so which secret is checked with moto's IAM
  policy engine (the one its enforcement uses), evaluating the rendered policy on the master secret's ARN and
  another's; the refresher's own ``aws-secrets-manager`` source reads the password from moto.
- ``rds-db:connect`` is no API call moto could receive (RDS checks it when a token signs in), so the MLflow role's
  rendered policy is evaluated with the same engine: it allows exactly the MLflow user's resource ARN, and no other
  identity of the stack can connect at all.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.iam.access_control import IAMPolicy, PermissionResult

from mlops_platform.aws.database import db_user_arn
from mlops_platform.aws.workload_identity import WorkloadIdentity
from mlops_platform_offline.harness import run_function
from serving_image.tracking.aws_token_sources import SecretsManagerPassword
from serving_image.tracking.token_sources import DatabaseTarget

REGION = "eu-west-1"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def bootstrap_policy(secret_arn: str, key_arn: str) -> str:
    plan = run_function(lambda: WorkloadIdentity("bootstrap", {
        "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "oidc_issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", "namespace": "mlflow",
        "service_account": "database-bootstrap", "secret_arn": secret_arn, "secret_kms_key_arn": key_arn}))
    assert [r.name for r in plan.all(ROLE_POLICY)] == ["bootstrap-secret"]  # no artifact or database access
    return plan.one(ROLE_POLICY).inputs["policy"]


SETUP_CALLS = 4
"""Unauthenticated set-up calls: the secret, the user, its policy and its access key."""


def restricted_session(monkeypatch, policy: str) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="bootstrap")
    iam.put_user_policy(UserName="bootstrap", PolicyName="secret", PolicyDocument=policy)
    access = iam.create_access_key(UserName="bootstrap")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])


@mock_aws
@set_initial_no_auth_action_count(SETUP_CALLS)
def test_the_bootstrap_identity_may_only_read_secrets(monkeypatch):
    master = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="rds!db-0000", SecretString=json.dumps({"username": "mlflow", "password": "rotated-by-rds"}))["ARN"]
    # The policy allows exactly this secret; moto authorises against "*", so widen it to every secret for the
    # action check only (the resource is checked below with the unchanged document).
    document = json.loads(bootstrap_policy(master, f"arn:aws:kms:{REGION}:123456789012:key/abc"))
    document["Statement"][0]["Resource"] = "*"
    restricted_session(monkeypatch, json.dumps(document))
    restricted = boto3.session.Session().client("secretsmanager", region_name=REGION)
    assert restricted.describe_secret(SecretId=master)["ARN"] == master
    for call, kwargs in [(restricted.put_secret_value, {"SecretId": master, "SecretString": "{}"}),
                         (restricted.list_secrets, {}),
                         (restricted.rotate_secret, {"SecretId": master}),
                         (restricted.delete_secret, {"SecretId": master}),
                         (restricted.put_resource_policy, {"SecretId": master, "ResourcePolicy": "{}"})]:
        with pytest.raises(ClientError) as raised:
            call(**kwargs)
        assert "is not authorized to perform" in str(raised.value), call


def test_the_bootstrap_identity_reads_exactly_the_master_secret():
    master = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:rds!db-0000-AbCdEf"
    key = f"arn:aws:kms:{REGION}:123456789012:key/abc"
    policy = IAMPolicy(bootstrap_policy(master, key))

    def allowed(action: str, resource: str, **conditions: str) -> bool:
        return policy.is_action_permitted(action, resource,
                                          incoming_condition_values=conditions or None) == PermissionResult.PERMITTED

    assert allowed("secretsmanager:GetSecretValue", master)
    assert not allowed("secretsmanager:GetSecretValue", master.replace("rds!db-0000", "someone-elses"))
    assert not allowed("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:*")
    assert not allowed("kms:Decrypt", key.replace("/abc", "/other"))


@mock_aws
def test_the_secrets_manager_source_reads_the_current_password():
    secrets = boto3.client("secretsmanager", region_name=REGION)
    master = secrets.create_secret(Name="rds!db-0000", SecretString=json.dumps(
        {"username": "mlflow", "password": "before-rotation"}))["ARN"]
    source = SecretsManagerPassword.from_environment({"AWS_REGION": REGION, "MLOPS_DB_SECRET_ID": master},
                                                     DatabaseTarget(host="db.example", port=5432, user="mlflow"))
    assert source.fetch().value == "before-rotation"
    secrets.put_secret_value(SecretId=master, SecretString=json.dumps({"username": "mlflow",
                                                                       "password": "after-rotation"}))
    token = source.fetch()
    assert token.value == "after-rotation" and token.expires_at is None


def test_only_mlflow_may_connect_and_only_as_its_own_database_user(preview):
    plan = preview("aws-dev")
    instance = plan.one("aws:rds/instance:Instance")
    own = db_user_arn("aws", REGION, "123456789012", instance.outputs["resourceId"], "mlflow_tracking")
    connecting = [r for r in plan.all(ROLE_POLICY) if "rds-db:" in r.inputs["policy"]]
    assert [r.name for r in connecting] == ["mlops-kubernetes-mlflow-database"]
    policy = IAMPolicy(connecting[0].inputs["policy"])

    def allowed(action: str, resource: str) -> bool:
        return policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED

    assert allowed("rds-db:connect", own)
    assert not allowed("rds-db:connect", own.replace("/mlflow_tracking", "/mlflow"))  # the master user
    assert not allowed("rds-db:connect", own.replace(instance.outputs["resourceId"], "db-OTHERINSTANCE"))
    assert not allowed("rds-db:connect", own.rsplit("/", 1)[0] + "/*")
    assert not allowed("rds:DescribeDBInstances", instance.outputs["arn"])
    assert json.loads(connecting[0].inputs["policy"])["Statement"] == [
        {"Sid": "ConnectAsOwnDatabaseUser", "Effect": "Allow", "Action": "rds-db:connect", "Resource": own}]


def test_only_the_bootstrap_identity_may_read_the_master_secret(preview):
    plan = preview("aws-dev")
    secret = plan.one("aws:rds/instance:Instance").outputs["masterUserSecrets"][0]["secretArn"]
    reading = [r for r in plan.all(ROLE_POLICY) if "secretsmanager:" in r.inputs["policy"]]
    assert [r.name for r in reading] == ["mlops-kubernetes-mlflow-database-admin-secret"]
    policy = IAMPolicy(reading[0].inputs["policy"])
    assert policy.is_action_permitted("secretsmanager:GetSecretValue", secret) == PermissionResult.PERMITTED
    assert policy.is_action_permitted("secretsmanager:GetSecretValue",
                                      secret[:-6] + "other1") != PermissionResult.PERMITTED
