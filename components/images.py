"""The platform's own images (the MLflow tracking server and the model server), named in one place.

A stack sets ``mlops:images`` once: the ``registry`` it pushes to, and the tag of each image; the repository names
are the ones the project's image builds produce (``mlops-mlflow-server``, ``mlops-serving``). Every Deployment of
the platform takes its image from here, so there is no second place where a stale or foreign image name can hide.

Digests: either written down per image (``tracking_digest``, ``serving_digest``), or, with ``digests: registry``,
read from the registry at deploy time (the cloud layer looks the tag up, e.g. in ECR), so a production stack pins by
digest without a committed placeholder: a tag that was never pushed fails the preview instead of deploying. A
written digest that cannot be a real one (``sha256:000...``, a short repeated pattern) is refused.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .validation import ArgumentError, reject_unknown_keys

TRACKING_REPOSITORY = "mlops-mlflow-server"
"""The MLflow tracking server image: MLflow with its auth extra, the PostgreSQL driver and the storage clients."""
SERVING_REPOSITORY = "mlops-serving"
"""The model server image that ``BlueGreenModelEndpoint`` runs."""
DEFAULT_TRACKING_TAG = "3.17.2"
"""The MLflow version the tracking image pins."""
DEFAULT_SERVING_TAG = "0.1.0"
DIGEST_SOURCES = ("config", "registry")
_REGISTRY = r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_KEYS = frozenset({"registry", "tracking_tag", "serving_tag", "tracking_digest", "serving_digest", "digests"})


def implausible_digest(digest: str) -> bool:
    """Whether a well-formed ``sha256:`` digest cannot be real: a hash has about 16 distinct hex digits, never a
    handful, and is never a short pattern repeated (all zeros, ``deadbeef...``, ``0123...``)."""
    hex_digits = digest.split(":", 1)[1]
    periodic = any(hex_digits == hex_digits[:period] * (64 // period) for period in (1, 2, 4, 8, 16, 32))
    return periodic or len(set(hex_digits)) < 8


@dataclass(frozen=True)
class ImageSettings:
    registry: str
    tracking_tag: str
    serving_tag: str
    tracking_digest: str | None
    serving_digest: str | None
    digests_from_registry: bool

    @property
    def tracking(self) -> str:
        """``<registry>/mlops-mlflow-server:<tag>``, without the digest."""
        return f"{self.registry}/{TRACKING_REPOSITORY}:{self.tracking_tag}"

    @property
    def serving(self) -> str:
        """``<registry>/mlops-serving:<tag>``, without the digest."""
        return f"{self.registry}/{SERVING_REPOSITORY}:{self.serving_tag}"


def validate_images(args: Any, field: str = "images") -> ImageSettings:
    """Check the ``images`` section; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    if args is None:
        raise ArgumentError(f"{field}.registry: missing; name the registry you push the platform's images to, "
                            f"such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com or ghcr.io/your-org")
    if not isinstance(args, Mapping):
        raise ArgumentError(f"{field}: {args!r} is not allowed; use a mapping with registry and the image tags")
    reject_unknown_keys(args, _KEYS, field)
    registry = args.get("registry")
    if not isinstance(registry, str) or not re.fullmatch(_REGISTRY, registry):
        raise ArgumentError(f"{field}.registry: {registry!r} is not allowed; use a registry host and optional path, "
                            f"such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com or ghcr.io/your-org")
    tags = {}
    for image, default in (("tracking", DEFAULT_TRACKING_TAG), ("serving", DEFAULT_SERVING_TAG)):
        tag = args.get(f"{image}_tag", default)
        if not isinstance(tag, str) or not re.fullmatch(_TAG, tag) or tag == "latest":
            raise ArgumentError(f"{field}.{image}_tag: {tag!r} is not allowed; use a fixed tag such as {default} "
                                f"(quoted, as a string; not latest)")
        tags[image] = tag
    source = args.get("digests", "config")
    if source not in DIGEST_SOURCES:
        raise ArgumentError(f"{field}.digests: {source!r} is not allowed; use config (the *_digest keys, optional) "
                            f"or registry (read from the registry at deploy time)")
    digests: dict[str, str | None] = {}
    for image in ("tracking", "serving"):
        key = f"{image}_digest"
        digest = args.get(key)
        if digest is not None and source == "registry":
            raise ArgumentError(f"{field}.{key}: not allowed with digests: registry; the registry supplies it")
        if digest is not None and (not isinstance(digest, str) or not re.fullmatch(_DIGEST, digest)):
            raise ArgumentError(f"{field}.{key}: {digest!r} is not allowed; use sha256: and 64 lowercase hex digits")
        if digest is not None and implausible_digest(digest):
            raise ArgumentError(f"{field}.{key}: {digest!r} is not allowed; it cannot be a real digest (a "
                                f"placeholder?): use the digest your registry reports for the pushed tag")
        digests[image] = digest
    return ImageSettings(registry=registry, tracking_tag=tags["tracking"], serving_tag=tags["serving"],
                         tracking_digest=digests["tracking"], serving_digest=digests["serving"],
                         digests_from_registry=source == "registry")
