"""AWS token sources: RDS IAM authentication tokens, and a password read from Secrets Manager.

Both use the pod's IRSA credentials through boto3's default chain (``AWS_ROLE_ARN`` and
``AWS_WEB_IDENTITY_TOKEN_FILE``, injected by EKS), so no key is ever configured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving_image.tracking.token_sources import DatabaseTarget, Token, required

RDS_TOKEN_SECONDS = 900
"""RDS IAM authentication tokens are valid for 15 minutes after signing."""


@dataclass
class RdsIamToken:
    """``generate_db_auth_token`` for the target's host, port and user: a SigV4-presigned ``rds-db:connect``
    request, signed locally with the role's credentials, valid 15 minutes."""

    client: Any
    target: DatabaseTarget
    region: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str], target: DatabaseTarget) -> RdsIamToken:
        import boto3

        region = required(env, "AWS_REGION", "the database's AWS region, such as eu-west-1")
        return cls(client=boto3.session.Session().client("rds", region_name=region), target=target, region=region)

    def fetch(self) -> Token:
        signed_at = time.time()
        value = self.client.generate_db_auth_token(DBHostname=self.target.host, Port=self.target.port,
                                                   DBUsername=self.target.user, Region=self.region)
        return Token(value=value, expires_at=signed_at + RDS_TOKEN_SECONDS)


@dataclass
class SecretsManagerPassword:
    """The ``password`` of a JSON secret (the RDS-managed master secret), read at every refresh, so a rotation is
    picked up within one refresh interval. It has no expiry of its own."""

    client: Any
    secret_id: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str], target: DatabaseTarget) -> SecretsManagerPassword:
        import boto3

        region = required(env, "AWS_REGION", "the secret's AWS region, such as eu-west-1")
        secret_id = required(env, "MLOPS_DB_SECRET_ID", "the ARN of the secret holding the password")
        return cls(client=boto3.session.Session().client("secretsmanager", region_name=region), secret_id=secret_id)

    def fetch(self) -> Token:
        secret = self.client.get_secret_value(SecretId=self.secret_id)
        try:
            password = json.loads(secret["SecretString"])["password"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"secret {self.secret_id} holds no JSON 'password' field") from None
        return Token(value=password, expires_at=None)
