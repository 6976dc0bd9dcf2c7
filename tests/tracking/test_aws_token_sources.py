"""The ``aws-rds-iam`` token source against boto3's signer: the token is the SigV4-presigned ``connect`` request RDS
expects, for the right host, port, user and region, valid 15 minutes, and its signature is what AWS would compute
from the same credentials (recomputed here from the SigV4 specification, not by calling the signer again)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest

from serving_image.tracking.aws_token_sources import RDS_TOKEN_SECONDS, RdsIamToken
from serving_image.tracking.token_sources import DatabaseTarget, SourceError

HOST = "mlops-dev-mlflow.c0abcdefghij.eu-west-1.rds.amazonaws.com"
TARGET = DatabaseTarget(host=HOST, port=5432, user="mlflow_tracking")
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "ASIAEXAMPLEKEY000001", "example/secret/key+0123456789", "irsa-session-token"


@pytest.fixture
def credentials(monkeypatch):
    """The credentials IRSA would have given the pod (a session token, as from AssumeRoleWithWebIdentity)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    for variable in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)


def sigv4_signature(host_and_port: str, params: dict[str, str], secret_key: str, region: str) -> str:
    """AWS Signature Version 4 of a presigned ``GET /`` on ``host_and_port`` (docs.aws.amazon.com, "Create a
    signed AWS API request"), for the service ``rds-db``."""
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
                     if k != "X-Amz-Signature")
    canonical = "\n".join(["GET", "/", query, f"host:{host_and_port}\n", "host",
                           hashlib.sha256(b"").hexdigest()])
    stamp = params["X-Amz-Date"]
    scope = f"{stamp[:8]}/{region}/rds-db/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (stamp[:8], region, "rds-db", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_a_presigned_rds_connect_request_for_the_user_valid_15_minutes(credentials):
    source = RdsIamToken.from_environment({"AWS_REGION": "eu-west-1"}, TARGET)
    before = time.time()
    token = source.fetch()
    url = urlsplit(f"https://{token.value}")
    params = dict(parse_qsl(url.query, keep_blank_values=True))

    assert (url.hostname, url.port, url.path) == (HOST, 5432, "/")
    assert params["Action"] == "connect" and params["DBUser"] == "mlflow_tracking"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    key_id, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    assert (key_id, region, service, terminator) == (ACCESS_KEY, "eu-west-1", "rds-db", "aws4_request")
    assert date == params["X-Amz-Date"][:8]
    assert params["X-Amz-Expires"] == str(RDS_TOKEN_SECONDS) == "900"
    assert params["X-Amz-SignedHeaders"] == "host"
    assert params["X-Amz-Security-Token"] == SESSION_TOKEN
    assert before + RDS_TOKEN_SECONDS - 5 <= token.expires_at <= time.time() + RDS_TOKEN_SECONDS
    assert params["X-Amz-Signature"] == sigv4_signature(f"{HOST}:5432", params, SECRET_KEY, "eu-west-1")


def test_the_token_is_exactly_what_boto3_signs_for_the_same_request(credentials):
    token = RdsIamToken.from_environment({"AWS_REGION": "eu-west-1"}, TARGET).fetch().value
    direct = boto3.session.Session().client("rds", region_name="eu-west-1").generate_db_auth_token(
        DBHostname=HOST, Port=5432, DBUsername="mlflow_tracking", Region="eu-west-1")
    strip = lambda value: {k: v for k, v in parse_qsl(urlsplit(f"https://{value}").query)  # noqa: E731
                           if k not in ("X-Amz-Date", "X-Amz-Signature", "X-Amz-Credential")}
    assert strip(token) == strip(direct)


def test_a_token_for_another_region_or_user_has_another_signature(credentials):
    ours = RdsIamToken.from_environment({"AWS_REGION": "eu-west-1"}, TARGET).fetch().value
    params = dict(parse_qsl(urlsplit(f"https://{ours}").query))
    assert params["X-Amz-Signature"] != sigv4_signature(f"{HOST}:5432", params, SECRET_KEY, "us-east-1")
    params_other_user = {**params, "DBUser": "mlflow"}
    assert params["X-Amz-Signature"] != sigv4_signature(f"{HOST}:5432", params_other_user, SECRET_KEY, "eu-west-1")


def test_the_region_is_required():
    with pytest.raises(SourceError, match="^AWS_REGION: missing"):
        RdsIamToken.from_environment({}, TARGET)
