"""Azure delete locks: a second guard, beside Pulumi's ``protect``, that a console click or a script cannot pass
without first removing the lock on purpose."""

import pulumi
import pulumi_azure_native.authorization as authorization


def delete_lock(name: str, scope: pulumi.Input[str], notes: str, *,
                parent: pulumi.Resource) -> "authorization.ManagementLockByScope":
    """A ``CanNotDelete`` lock on the resource (or group) with ARM id ``scope``; reads and updates still work."""
    return authorization.ManagementLockByScope(
        f"{name}-lock",
        scope=scope,
        level=authorization.LockLevel.CAN_NOT_DELETE,
        notes=notes,
        opts=pulumi.ResourceOptions(parent=parent),
    )
