"""Calling the pack's validators as the engine does: one resource (camelCase inputs, options, provider, config) or a
stack of resources (outputs, with their property dependencies)."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import PolicyProviderResource, PolicyResource, ResourceValidationPolicy, StackValidationPolicy

from policies.pack import POLICIES
from tooling.policy_report import engine_options, validate_resource, validate_stack

BY_NAME = {policy.name: policy for policy in POLICIES}


def provider(environment: str = "dev") -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:aws", {"defaultTags": json.dumps({"tags": {"environment": environment}})},
                                  "urn:pulumi:s::p::pulumi:providers:aws::aws", "aws")


def run_resource(name: str, resource_type: str, props: dict, environment: str = "dev", protect: bool = False,
                 config: dict[str, Any] | None = None, parent: str | None = None) -> list[str]:
    """Call one resource validator as the engine would (its config defaults, overridden by ``config``); the messages."""
    policy = BY_NAME[name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []
    validate_resource(policy, resource_type, props, f"urn:pulumi:s::p::{resource_type}::r", "r", engine_options(protect, parent),
                      provider(environment), lambda message, urn=None: reported.append(message), config)
    return reported


def resource(resource_type: str, props: dict, name: str = "r", environment: str = "dev",
             depends: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    """A stack's resource; ``depends``: the resources each property was built from."""
    return PolicyResource(resource_type, props, f"urn:pulumi:s::p::{resource_type}::{name}", name, engine_options(),
                          provider(environment), None, [r for rs in (depends or {}).values() for r in rs], dict(depends or {}))


def run_stack(name: str, resources: list[PolicyResource], config: dict[str, Any] | None = None) -> list[str]:
    """Call one stack validator as the engine would (its config defaults, overridden by ``config``); the messages."""
    policy = BY_NAME[name]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[str] = []
    validate_stack(policy, resources, lambda message, urn=None: reported.append(message), config)
    return reported
