"""Pod labels of a workload identity: some clouds need the identity's labels on the pods, not only on the
ServiceAccount (Entra workload identity's webhook mutates only pods labelled ``azure.workload.identity/use``), so
every pod that runs as an identity's ServiceAccount carries them too. On AWS and GCP the labels are empty."""

from collections.abc import Mapping

import pulumi


def with_identity_labels(own: Mapping[str, str],
                         identity_labels: pulumi.Input[Mapping[str, str]] | None) -> pulumi.Output:
    """The pod template's labels: the identity's, then the workload's own (which win, so selectors never change)."""
    return pulumi.Output.from_input(identity_labels or {}).apply(lambda labels: {**dict(labels or {}), **own})
