"""Google service account ids that a stack can always create: 6 to 30 characters, lowercase letters, digits and
'-', starting with a letter and not ending with '-'.

Ids are built from a stable base (the platform's name) and a role (``nodes``, a Kubernetes service account name).
When the plain id would be too long, it is shortened and a hash of the whole id keeps different roles apart, so two
identities of one project never collide and the same inputs always give the same id.
"""

import hashlib
import re

MIN_LENGTH = 6
MAX_LENGTH = 30
ACCOUNT_ID_PATTERN = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
_HASH_LENGTH = 6


def account_id(base: str, role: str) -> str:
    """``<base>-<role>`` when that is a legal id; otherwise a shortened form ending in a hash of it."""
    plain = re.sub(r"[^a-z0-9-]+", "-", f"{base}-{role}".lower())
    plain = re.sub(r"-{2,}", "-", plain).strip("-")
    if not plain or not plain[0].isalpha():
        plain = f"sa-{plain}"
    if len(plain) < MIN_LENGTH:
        plain = f"{plain}-sa{'0' * (MIN_LENGTH - len(plain) - 3)}".strip("-")
    if len(plain) <= MAX_LENGTH and re.fullmatch(ACCOUNT_ID_PATTERN, plain):
        return plain
    digest = hashlib.sha256(plain.encode()).hexdigest()[:_HASH_LENGTH]
    head = plain[: MAX_LENGTH - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def service_account_email(account: str, project: str) -> str:
    """The email Google gives a service account of ``project``."""
    return f"{account}@{project}.iam.gserviceaccount.com"


def iam_user_name(email: str) -> str:
    """The PostgreSQL role Cloud SQL gives a service account: its email without ``.gserviceaccount.com``."""
    return email.removesuffix(".gserviceaccount.com")
