"""Azure token source: a Microsoft Entra access token for Azure Database for PostgreSQL, through Entra workload
identity.

``WorkloadIdentityCredential`` reads what the AKS workload-identity webhook injects into a labelled pod
(``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE``, ``AZURE_AUTHORITY_HOST``) and exchanges
the projected service-account token for an access token; no secret is configured anywhere. PostgreSQL Flexible
Server takes the access token as the password of the Entra principal's role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving_image.tracking.token_sources import DatabaseTarget, SourceError, Token

POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
"""The scope of tokens Azure Database for PostgreSQL accepts (the same in every Azure public-cloud region)."""
WEBHOOK_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")


@dataclass
class EntraAccessToken:
    """An Entra access token for ``MLOPS_DB_TOKEN_SCOPE`` (default the PostgreSQL scope), with the expiry Entra
    gives it (about an hour), so the refresher renews it well before then."""

    credential: Any
    scope: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str], target: DatabaseTarget) -> EntraAccessToken:
        missing = [key for key in WEBHOOK_VARIABLES if not env.get(key, "").strip()]
        if missing:
            raise SourceError(f"{missing[0]}: missing; the pod's ServiceAccount needs the annotation "
                              f"azure.workload.identity/client-id and the pod the label azure.workload.identity/use")
        from azure.identity import WorkloadIdentityCredential

        credential = WorkloadIdentityCredential(tenant_id=env["AZURE_TENANT_ID"], client_id=env["AZURE_CLIENT_ID"],
                                                token_file_path=env["AZURE_FEDERATED_TOKEN_FILE"])
        return cls(credential=credential, scope=env.get("MLOPS_DB_TOKEN_SCOPE", "").strip() or POSTGRES_SCOPE)

    def fetch(self) -> Token:
        token = self.credential.get_token(self.scope)
        return Token(value=token.token, expires_at=float(token.expires_on))
