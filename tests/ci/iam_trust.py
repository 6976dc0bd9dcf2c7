"""A small evaluator of an IAM role trust policy for ``sts:AssumeRoleWithWebIdentity``, the way STS decides it:
an explicit Deny wins, else some Allow statement must match the action, the federated principal and every condition
(each operator's keys are ANDed, a key's list of values is ORed; StringEquals is exact and case-sensitive,
StringLike supports ``*`` and ``?``). It covers the operators trust policies of web identities use; any other
operator makes it raise, so an unsupported policy is never judged "allowed" by accident."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

_OPERATORS = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringNotEquals": lambda actual, expected: actual != expected,
    "StringLike": lambda actual, expected: re.fullmatch(fnmatch.translate(expected), actual) is not None,
}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, checks in condition.items():
        if operator not in _OPERATORS:
            raise NotImplementedError(f"condition operator {operator} is not evaluated here")
        test = _OPERATORS[operator]
        for key, expected in checks.items():
            actual = context.get(key)
            if actual is None:
                return operator == "StringNotEquals"
            matched = any(test(actual, value) for value in _listed(expected))
            if operator == "StringNotEquals":
                matched = all(test(actual, value) for value in _listed(expected))
            if not matched:
                return False
    return True


def _statement_matches(statement: dict[str, Any], principal: str, action: str, context: dict[str, str]) -> bool:
    federated = _listed((statement.get("Principal") or {}).get("Federated", []))
    if principal not in federated:
        return False
    if action not in _listed(statement.get("Action")):
        return False
    return _condition_holds(statement.get("Condition") or {}, context)


def web_identity_allowed(trust_policy: str, federated_principal: str, claims: dict[str, str],
                         issuer_host: str = "token.actions.githubusercontent.com") -> bool:
    """Whether STS would let a token with ``claims`` (``sub``, ``aud``, ...) from ``federated_principal`` assume the
    role. Claims are offered as ``<issuer host>:<claim>`` condition keys, as STS does for OIDC providers."""
    document = json.loads(trust_policy)
    context = {f"{issuer_host}:{claim}": value for claim, value in claims.items()}
    action = "sts:AssumeRoleWithWebIdentity"
    statements = _listed(document.get("Statement") or [])
    if any(s.get("Effect") == "Deny" and _statement_matches(s, federated_principal, action, context)
           for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _statement_matches(s, federated_principal, action, context)
               for s in statements)
