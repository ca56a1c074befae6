"""Small helpers shared by the rules: property access, environments, and the ``rule`` decorator.

A rule is its function with its metadata right above it::

    MAX_GPU_NODES = Tunable("maxGpuNodes", {"type": "integer"}, 8)

    @rule("gpu-node-budget", "GPU node groups stay within the GPU budget.", COST, Severity.LOW,
          "Lower maxSize or raise maxGpuNodes.", tunables=[MAX_GPU_NODES])
    def gpu_budget(args, report): ... MAX_GPU_NODES.read(args) ...

A tunable's default lives in its ``Tunable`` only: the rule reads it from there and the pack's
config schema advertises it from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from infra.config import is_prod_stack

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


def stack_of(urn: str) -> str:
    """The stack a resource belongs to, from its URN (``urn:pulumi:<stack>::<project>::...``)."""
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


def resource_environment(args: ResourceValidationArgs | PolicyResource) -> str:
    """A resource's environment (the args of one, or one of a stack): prod when either its provider's environment
    tag or its stack's name says so."""
    tagged = environment_of(args.provider.props if args.provider else None)
    return "prod" if is_prod_stack(stack_of(args.urn)) else tagged


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


@dataclass(frozen=True)
class Tunable:
    """A setting of a rule that a stack's policy config may change; its default is here and only here."""

    name: str
    schema: dict[str, Any]
    default: Any

    def read(self, args: Any) -> Any:
        """The value the engine passes for this stack, or the default."""
        return args.get_config().get(self.name, self.default)

    def spec(self) -> dict[str, Any]:
        return {**self.schema, "default": self.default}


def rule(name: str, description: str, level: EnforcementLevel, severity: Severity, remediation: str,
         tunables: Sequence[Tunable] = (), stack: bool = False) -> Callable[[Callable], Callable]:
    """Attach a rule's policy (metadata, tunables) to its validating function."""

    def attach(validate: Callable) -> Callable:
        config = {tunable.name: tunable.spec() for tunable in tunables} or None
        make = stack_policy if stack else resource_policy
        validate.policy = make(name, description, level, severity, validate, remediation, config)  # type: ignore[attr-defined]
        return validate

    return attach


def policies_of(*modules: ModuleType) -> list[Any]:
    """The policies of the rules each module defines, in the order they are written."""
    return [value.policy for module in modules for value in vars(module).values() if callable(value) and hasattr(value, "policy")]


def of_type(resources: Iterable[PolicyResource], types: tuple[str, ...]) -> list[PolicyResource]:
    """The resources of a stack that have one of ``types``."""
    return [r for r in resources if r.resource_type in types]


def config_defaults(policy: Any) -> dict[str, Any]:
    """The defaults of a policy's config schema, as the engine would pass them."""
    schema = policy.config_schema
    return {key: spec["default"] for key, spec in (schema.properties if schema else {}).items() if "default" in spec}
