"""How the team names its resources."""

import pulumi


def resource_name(role: str) -> str:
    return f"{pulumi.get_project()}-{role}"
