"""The typed configuration of a stack: everything ``stacks/Pulumi.<stack>.yaml`` may set, read and checked before
any resource exists.

All settings live in the project's namespace (``mlops:``). Top-level keys are the sections of
:class:`mlops_platform.platform.MlopsPlatformArgs`; each section is validated by the component that owns it, so the
rules live in one place and errors name the config key (``mlops:artifacts.noncurrent_days``).

Provider namespaces (``aws:``, ``gcp:``, ``azure-native:``, ``kubernetes:``) are rejected: the platform creates
explicit providers, which never read them, so such a key would be silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from mlops_platform.platform import MlopsPlatformArgs, PlatformSettings, validate_platform_args
from mlops_platform.validation import ArgumentError

NAMESPACE = "mlops"
IGNORED_PROVIDER_NAMESPACES = ("aws", "gcp", "azure-native", "azure", "kubernetes")
KNOWN_KEYS = tuple(get_type_hints(MlopsPlatformArgs))


class ConfigError(ValueError):
    """A stack config value is missing, malformed or unknown. The message is one line naming the key."""


@dataclass(frozen=True)
class StackConfig:
    args: MlopsPlatformArgs
    """The platform arguments, as the stack set them."""
    settings: PlatformSettings
    """The same, validated and with defaults filled."""


def load_stack_config(config: Mapping[str, str], default_name: str | None = None) -> StackConfig:
    """Read a stack's flat Pulumi config (``{"mlops:cloud": "aws", "mlops:tags": "{...}"}``, values as the CLI
    passes them: strings, objects JSON-encoded) and validate all of it. ``default_name`` is the platform's base name
    when the stack does not set ``mlops:name`` (the program passes ``<project>-<stack>``)."""
    args: dict[str, Any] = {}
    for full_key, raw in sorted(config.items()):
        namespace, _, key = full_key.partition(":")
        if namespace in IGNORED_PROVIDER_NAMESPACES:
            raise ConfigError(
                f"{full_key}: provider config is not read; the platform creates its own providers, so set "
                f"{NAMESPACE}:region (and credentials in the environment) instead"
            )
        if namespace != NAMESPACE:
            continue  # another program's or plugin's namespace; not ours to judge
        if key not in KNOWN_KEYS:
            raise ConfigError(f"{full_key}: unknown key; allowed are {', '.join(f'{NAMESPACE}:{k}' for k in KNOWN_KEYS)}")
        args[key] = _decoded(full_key, raw)
    if "name" not in args and default_name is not None:
        args["name"] = default_name
    for required in ("name", "cloud", "tags"):
        if required not in args:
            raise ConfigError(f"{NAMESPACE}:{required}: missing; every stack sets it (see README, 'Stack config')")
    try:
        settings = validate_platform_args(args, prefix=f"{NAMESPACE}:")
    except ArgumentError as error:
        raise ConfigError(str(error)) from None
    return StackConfig(args=MlopsPlatformArgs(**args), settings=settings)


def _decoded(key: str, raw: Any) -> Any:
    """Config values arrive as strings; objects and arrays are JSON-encoded, scalars are not."""
    if not isinstance(raw, str):
        return raw
    stripped = raw.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{key}: {raw!r} is not allowed; it looks like an object or a list but is not valid "
                              f"JSON ({error.msg} at character {error.pos})") from None
    return raw
