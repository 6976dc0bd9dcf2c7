"""The kubeconfig every cloud layer hands out: one cluster, one context, and a user whose credential comes from the
cloud's exec plugin at each use (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``), so the file
holds no token, key or password. Rendered as JSON with sorted keys, so the same cluster always gives the same text.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def exec_kubeconfig(cluster_name: str, server: str, certificate_authority: str, command: str, *,
                    args: Sequence[str] = (), extra: Mapping[str, Any] | None = None) -> str:
    """A kubeconfig for ``cluster_name`` at ``server`` (CA data base64) whose user runs ``command args`` without
    prompting (``interactiveMode: Never``); ``extra`` adds exec fields such as ``installHint``."""
    exec_spec: dict[str, Any] = {"apiVersion": EXEC_API_VERSION, "command": command, "interactiveMode": "Never",
                                 **(extra or {})}
    if args:
        exec_spec["args"] = list(args)
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": server,
                                                            "certificate-authority-data": certificate_authority}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": {"exec": exec_spec}}],
        },
        sort_keys=True,
    )
