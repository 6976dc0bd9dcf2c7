"""What GitHub Actions' OIDC tokens say, shared by the three clouds' CI identities (``components/<cloud>/ci_identity.py``).

A workflow job with ``permissions: id-token: write`` can ask GitHub for a short-lived token from
``https://token.actions.githubusercontent.com``. With GitHub's default claims its subject names the repository and
what ran: ``repo:<owner>/<repo>:pull_request`` for a pull request, ``repo:<owner>/<repo>:ref:refs/heads/<branch>``
for a push, and ``repo:<owner>/<repo>:environment:<name>`` for a job that uses a deployment environment (which
replaces the ref). The clouds trust those subjects exactly, never a pattern, so a fork, another repository or
another branch gets nothing.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .validation import ArgumentError, field_path, optional_text

ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}"
REPOSITORY_MEANING = "owner/name of one GitHub repository, such as acme/mlops-platform (no wildcards)"
_BRANCH = r"[A-Za-z0-9._/-]{1,200}"
_ENVIRONMENT = r"[A-Za-z0-9._-]{1,255}"
DEFAULT_BRANCH = "main"
DEFAULT_ENVIRONMENT = "production"


@dataclass(frozen=True)
class GitHubTrust:
    """Who may use the CI identities: one repository, its pull requests, its deploy branch and environment."""

    repository: str
    deploy_branch: str
    deploy_environment: str

    @property
    def preview_subjects(self) -> list[str]:
        """Subjects of the read-only preview identity: the repository's pull requests."""
        return [f"repo:{self.repository}:pull_request"]

    @property
    def deploy_subjects(self) -> list[str]:
        """Subjects of the deploying identity: pushes to the deploy branch, and jobs of the deploy environment."""
        return [f"repo:{self.repository}:ref:refs/heads/{self.deploy_branch}",
                f"repo:{self.repository}:environment:{self.deploy_environment}"]


def validate_github_trust(args: Mapping[str, Any], field: str) -> GitHubTrust:
    """The ``repository``, ``deploy_branch`` and ``deploy_environment`` arguments of a CI identity."""
    repository = args.get("repository")
    if not isinstance(repository, str) or not re.fullmatch(REPOSITORY_PATTERN, repository):
        raise ArgumentError(f"{field_path(field, 'repository')}: {repository!r} is not allowed; use "
                            f"{REPOSITORY_MEANING}")
    branch = optional_text(args, "deploy_branch", field, _BRANCH, "a branch name such as main") or DEFAULT_BRANCH
    environment = optional_text(args, "deploy_environment", field, _ENVIRONMENT,
                                "a GitHub environment name such as production") or DEFAULT_ENVIRONMENT
    return GitHubTrust(repository=repository, deploy_branch=branch, deploy_environment=environment)
