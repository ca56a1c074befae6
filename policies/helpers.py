"""Small helpers shared by the rules: property access, environments, policy construction."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

SECURITY = EnforcementLevel.MANDATORY
COST = EnforcementLevel.ADVISORY


def get(props: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """``get(props, "vpcConfig.endpointPublicAccess")`` with a default for any missing step."""
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def as_json(value: Any) -> Any:
    """Policy documents and provider tags arrive as JSON strings or as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def environment_of(provider_props: Mapping[str, Any] | None) -> str:
    """The environment tag of a resource's provider (default tags), or ""."""
    tags = as_json(get(provider_props, "defaultTags", {})) or {}
    return str(get(tags, "tags.environment", "") or "")


def resource_environment(args: ResourceValidationArgs) -> str:
    return environment_of(args.provider.props if args.provider else None)


def message(what: str, why: str, fix: str) -> str:
    """What is wrong, why it matters, how to fix it."""
    return f"{what} Why: {why} Fix: {fix}"


def _policy(
    kind: type,
    name: str,
    description: str,
    level: EnforcementLevel,
    severity: Severity,
    validate: Callable,
    remediation: str,
    config: dict[str, dict[str, Any]] | None,
) -> Any:
    return kind(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        severity=severity,
        remediation_steps=remediation,
        config_schema=PolicyConfigSchema(properties=config) if config else None,
    )


def resource_policy(name: str, description: str, level: EnforcementLevel, severity: Severity, validate: Callable,
                    remediation: str, config: dict[str, dict[str, Any]] | None = None) -> ResourceValidationPolicy:
    """A policy that sees one resource at a time (its first check is the resource type)."""
    return _policy(ResourceValidationPolicy, name, description, level, severity, validate, remediation, config)


def stack_policy(name: str, description: str, level: EnforcementLevel, severity: Severity, validate: Callable,
                 remediation: str, config: dict[str, dict[str, Any]] | None = None) -> StackValidationPolicy:
    """A policy that sees the whole stack (for joins across resources)."""
    return _policy(StackValidationPolicy, name, description, level, severity, validate, remediation, config)


def config_defaults(policy: Any) -> dict[str, Any]:
    """The defaults of a policy's config schema, as the engine would pass them."""
    schema = policy.config_schema
    return {key: spec["default"] for key, spec in (schema.properties if schema else {}).items() if "default" in spec}
