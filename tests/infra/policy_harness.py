"""Calling the pack's validators as the engine does: one resource (camelCase inputs, options, provider, config) or a
stack of resources (outputs, with their property dependencies)."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.helpers import config_defaults
from policies.pack import POLICIES

BY_NAME = {policy.name: policy for policy in POLICIES}


def provider(environment: str = "dev") -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:aws", {"defaultTags": json.dumps({"tags": {"environment": environment}})},
                                  "urn:pulumi:s::p::pulumi:providers:aws::aws", "aws")


def options(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def run_resource(name: str, resource_type: str, props: dict, environment: str = "dev", protect: bool = False,
                 config: dict[str, Any] | None = None, parent: str | None = None) -> list[str]:
    """Call one resource validator as the engine would (its config defaults, overridden by ``config``); the messages."""
    policy = BY_NAME[name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:s::p::{resource_type}::r", "r", options(protect, parent),
                                  provider(environment), {**config_defaults(policy), **(config or {})})
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


def resource(resource_type: str, props: dict, name: str = "r", environment: str = "dev",
             depends: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    """A stack's resource; ``depends``: the resources each property was built from."""
    return PolicyResource(resource_type, props, f"urn:pulumi:s::p::{resource_type}::{name}", name, options(), provider(environment), None,
                          [r for rs in (depends or {}).values() for r in rs], dict(depends or {}))


def run_stack(name: str, resources: list[PolicyResource], config: dict[str, Any] | None = None) -> list[str]:
    policy = BY_NAME[name]
    assert isinstance(policy, StackValidationPolicy)
    reported: list[str] = []
    policy.validate(StackValidationArgs(resources, {**config_defaults(policy), **(config or {})}),
                    lambda message, urn=None: reported.append(message))
    return reported
