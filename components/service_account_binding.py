"""The one Kubernetes ServiceAccount a workload identity is bound to, checked alike on every cloud: IRSA's trust
condition, GKE's ``<pool>[<namespace>/<name>]`` member and Entra's federated subject each name exactly one
namespace and one ServiceAccount, never a wildcard."""

import re
from collections.abc import Mapping
from typing import Any

from .validation import DNS_LABEL, DNS_SUBDOMAIN, ArgumentError, field_path


def validate_service_account_binding(args: Mapping[str, Any], field: str) -> tuple[str, str]:
    """``(namespace, service_account)`` of ``args``; raises ``ArgumentError`` naming the field, the value and what is
    allowed."""
    namespace = args.get("namespace")
    if not isinstance(namespace, str) or not re.fullmatch(DNS_LABEL, namespace):
        raise ArgumentError(f"{field_path(field, 'namespace')}: {namespace!r} is not allowed; use a Kubernetes "
                            f"namespace name (lowercase letters, digits, '-', at most 63)")
    account = args.get("service_account")
    if not isinstance(account, str) or len(account) > 253 or not re.fullmatch(DNS_SUBDOMAIN, account):
        raise ArgumentError(f"{field_path(field, 'service_account')}: {account!r} is not allowed; use a Kubernetes "
                            f"ServiceAccount name (lowercase letters, digits, '-', '.', at most 253)")
    return namespace, account
