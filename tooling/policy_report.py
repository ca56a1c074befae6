"""Run the whole policy pack over a stack's resource graph offline (program under mocks).

    python -m tooling.policy_report [--stack staging ...] [--override key=value ...]

Builds the engine's arguments from the mocked registrations (camelCase inputs,
resource options, provider), calls every validator with a collecting report, and
prints mandatory violations and advisories. Exits 1 if any mandatory policy is violated.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.helpers import config_defaults
from policies.pack import POLICIES
from tooling import offline
from tooling.mocks import Registration


@dataclass(frozen=True)
class Violation:
    """One reported violation."""

    policy: str
    level: str
    severity: str
    urn: str
    message: str


def engine_options(protect: bool = False, parent: str | None = None, ignore_changes: list[str] | None = None) -> PolicyResourceOptions:
    """A resource's options as the engine hands them to a policy."""
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=list(ignore_changes or []),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def _options(registration: Registration) -> PolicyResourceOptions:
    return engine_options(registration.protect, registration.parent or None, list(registration.ignore_changes))


def validate_resource(policy: ResourceValidationPolicy, resource_type: str, props: dict, urn: str, name: str,
                      options: PolicyResourceOptions, provider: PolicyProviderResource | None, report: ReportViolation,
                      config: dict[str, Any] | None = None) -> None:
    """Call a resource policy on one resource's inputs as the engine does: its config defaults, overridden by ``config``."""
    args = ResourceValidationArgs(resource_type, props, urn, name, options, provider, {**config_defaults(policy), **(config or {})})
    policy.validate(args, report)


def validate_stack(policy: StackValidationPolicy, resources: list[PolicyResource], report: ReportViolation,
                   config: dict[str, Any] | None = None) -> None:
    """Call a stack policy on the stack's resources as the engine does: its config defaults, overridden by ``config``."""
    policy.validate(StackValidationArgs(resources, {**config_defaults(policy), **(config or {})}), report)


def _providers(run: offline.OfflineRun) -> dict[str, PolicyProviderResource]:
    providers = {}
    for registration in run.resources:
        if registration.type.startswith("pulumi:providers:"):
            providers[registration.urn] = PolicyProviderResource(
                registration.type, registration.outputs, registration.urn, registration.name
            )
    return providers


def _provider_of(registration: Registration, providers: dict[str, PolicyProviderResource]) -> PolicyProviderResource | None:
    urn = registration.provider.rsplit("::", 1)[0] if registration.provider else ""
    return providers.get(urn)


def _stack_resources(registrations: list[Registration], providers: dict[str, PolicyProviderResource]) -> list[PolicyResource]:
    """The stack's resources as the engine hands them to stack policies: outputs, with their dependencies (each
    input property's too) resolved to the resources themselves."""
    resources = {
        r.urn: PolicyResource(r.type, r.outputs, r.urn, r.name, _options(r), _provider_of(r, providers), None, [], {})
        for r in registrations
    }
    for registration in registrations:
        resource = resources[registration.urn]
        resource.dependencies = [resources[urn] for urn in registration.dependencies if urn in resources]
        resource.property_dependencies = {
            key: [resources[urn] for urn in urns if urn in resources] for key, urns in registration.property_dependencies.items()
        }
    return list(resources.values())


def evaluate(run: offline.OfflineRun, policies: list | None = None) -> list[Violation]:
    """Every violation of ``policies`` (default: the whole pack) in ``run``."""
    providers = _providers(run)
    violations: list[Violation] = []
    custom = [r for r in run.resources if not r.type.startswith("mlplatform:")]
    resources = _stack_resources(custom, providers)
    for policy in policies or POLICIES:
        level = (policy.enforcement_level or EnforcementLevel.ADVISORY).value
        severity = policy.severity.value if policy.severity else "unknown"

        def collect(
            msg: str, urn: str | None = None, *, default_urn: str = "", name: str = policy.name, level: str = level,
            severity: str = severity,
        ) -> None:
            violations.append(Violation(name, level, severity, urn or default_urn, msg))

        if isinstance(policy, ResourceValidationPolicy):
            for r in custom:
                validate_resource(policy, r.type, r.inputs, r.urn, r.name, _options(r), _provider_of(r, providers),
                                  lambda msg, urn=None, r=r: collect(msg, urn, default_urn=r.urn))
        elif isinstance(policy, StackValidationPolicy):
            validate_stack(policy, resources, lambda msg, urn=None: collect(msg, urn))
    return violations


def report(stack: str, violations: list[Violation]) -> str:
    mandatory = [v for v in violations if v.level == "mandatory"]
    advisory = [v for v in violations if v.level != "mandatory"]
    lines = [f"Policy pack on stack {stack}: {len(POLICIES)} policies, {len(mandatory)} mandatory violations, {len(advisory)} advisories"]
    for violation in mandatory + advisory:
        lines.append(f"  [{violation.level}/{violation.severity}] {violation.policy}: {violation.urn.rsplit('::', 1)[-1]}")
        lines.append(f"      {violation.message}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", choices=offline.available_stacks(), help="stack (repeatable; default: all)")
    parser.add_argument("--override", action="append", default=[], help="config override key=value (JSON values allowed)")
    args = parser.parse_args(argv)
    overrides = offline.parse_overrides(args.override)
    failed = False
    for stack in args.stack or list(offline.available_stacks()):
        violations = evaluate(offline.run(stack, overrides))
        print(report(stack, violations))
        failed |= any(v.level == "mandatory" for v in violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
