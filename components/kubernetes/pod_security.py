"""The hardened pod and container security settings every workload of the platform runs with.

One definition, so that the MLflow server, both colours of a model endpoint and the in-cluster services of the
``local`` target cannot drift apart: a numeric non-root user, no privilege escalation, every Linux capability
dropped, the runtime's default seccomp profile, a read-only root filesystem (writable paths are emptyDir mounts)
and no service-account token unless the workload talks to the Kubernetes API.
"""

import pulumi_kubernetes as k8s


def pod_security_context(uid: int) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level settings: run as ``uid`` (and group), files on volumes owned by that group."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(uid: int) -> k8s.core.v1.SecurityContextArgs:
    """Container-level settings; repeated from the pod level because some scanners read only the container."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def writable_volumes(paths: dict[str, str], size_limit: str = "1Gi") -> tuple[
    list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]
]:
    """An emptyDir volume and its mount for each ``{volume name: mount path}``: the only places a container with a
    read-only root filesystem may write. ``size_limit`` keeps a runaway writer from filling the node's disk."""
    volumes = [
        k8s.core.v1.VolumeArgs(name=volume, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit))
        for volume in paths
    ]
    mounts = [k8s.core.v1.VolumeMountArgs(name=volume, mount_path=path) for volume, path in paths.items()]
    return volumes, mounts
