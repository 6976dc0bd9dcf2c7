"""A token source for the live tests that behaves like RDS IAM authentication seen from PostgreSQL: every fetch
issues a new credential and makes it the user's password (``ALTER ROLE ... PASSWORD``, as the superuser), so the old
one stops working at once, stricter than RDS, where a token stays valid until it expires. While the outage file
exists, every fetch fails as an unreachable identity provider would. While the hold file exists, a fetch returns the
last credential again without changing it (the first fetch always issues one): a process that opens connections
without retrying, as MLflow's server does while it starts, would otherwise lose to the few milliseconds between the
password changing and the pass file having it, a gap RDS's overlapping tokens do not have. Issued credentials are
appended to a file so the tests can look for them in logs. Loaded by the refresher as
``tests.kubernetes.rotating_token_source:RotatingPassword``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from serving_image.tracking.token_sources import DatabaseTarget, Token


@dataclass
class RotatingPassword:
    admin_dsn: str
    user: str
    outage_file: Path
    issued_file: Path
    lifetime_seconds: float
    hold_file: Path | None = None
    last: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str], target: DatabaseTarget) -> RotatingPassword:
        return cls(admin_dsn=env["ROTATING_ADMIN_DSN"], user=target.user, outage_file=Path(env["ROTATING_OUTAGE_FILE"]),
                   issued_file=Path(env["ROTATING_ISSUED_FILE"]),
                   lifetime_seconds=float(env.get("ROTATING_LIFETIME_SECONDS", "900")),
                   hold_file=Path(env["ROTATING_HOLD_FILE"]) if env.get("ROTATING_HOLD_FILE") else None)

    def fetch(self) -> Token:
        import psycopg2
        from psycopg2 import sql

        if self.outage_file.exists():
            raise ConnectionError("identity provider unreachable (test outage)")
        if self.last is not None and self.hold_file is not None and self.hold_file.exists():
            return Token(value=self.last, expires_at=time.time() + self.lifetime_seconds)
        # ':' and '\\' as in an RDS token, so the pass file's escaping is exercised too.
        value = f"{secrets.token_urlsafe(24)}:/\\{secrets.token_hex(4)}"
        connection = psycopg2.connect(self.admin_dsn)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(self.user)), (value,))
        finally:
            connection.close()
        with self.issued_file.open("a") as issued:
            issued.write(value + "\n")
        self.last = value
        return Token(value=value, expires_at=time.time() + self.lifetime_seconds)
