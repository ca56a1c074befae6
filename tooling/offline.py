"""Run the program for a stack with no cloud and no Pulumi CLI, under mocks.

``stack_config`` merges the project defaults of ``Pulumi.yaml`` with
``stacks/Pulumi.<stack>.yaml`` the way the CLI does, and ``run`` executes the
real program against :mod:`tooling.mocks`, returning every registration and the
stack outputs. Tests, the preview and the benchmarks all go through here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import config, program
from tooling.mocks import PlatformMocks, RecordingMonitor, Registration

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod", "local")
# Stack outputs never printed: shown as SECRET in previews, snapshots and diffs.
SECRET_OUTPUTS = frozenset({"kubeconfig"})
SECRET = "[secret]"


@dataclass
class OfflineRun:
    """What one stack declares."""

    stack: str
    settings: config.Settings
    resources: list[Registration]
    outputs: dict[str, Any]

    def of_type(self, resource_type: str) -> list[Registration]:
        return [r for r in self.resources if r.type == resource_type]

    def public_outputs(self) -> dict[str, Any]:
        """The stack outputs with secret ones masked."""
        return {key: SECRET if key in SECRET_OUTPUTS else value for key, value in self.outputs.items()}

    def count_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources:
            counts[resource.type] = counts.get(resource.type, 0) + 1
        return dict(sorted(counts.items()))


def encode(value: Any) -> str:
    """A config value as the CLI hands it to a program (strings as they are, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Command-line ``key=value`` config overrides; values may be JSON."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def available_stacks() -> tuple[str, ...]:
    """Every stack with a file under stacks/ (the committed examples, STACKS, and any a team adds): what the tools accept."""
    return tuple(sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in (ROOT / "stacks").glob("Pulumi.*.yaml")))


def stack_file(stack: str) -> Path:
    """``stacks/Pulumi.<stack>.yaml``."""
    return ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def _read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file, or a ConfigError naming the file and the line."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise config.ConfigError(f"{where}:{line} not valid YAML ({problem}); fix the file's syntax") from None
    entries = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise config.ConfigError(f"{where}: expected a mapping `config:` of namespace:key entries")
    return entries


def _reveal(value: Any) -> tuple[Any, bool]:
    """``value`` with each ``{secure: ...}`` leaf (a value set with `pulumi config set --secret`) replaced by its text,
    and whether it had one. The CLI decrypts these and tells the program the key is a secret; offline the ciphertext
    (or a test's plaintext) stands for the value."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return str(value["secure"]), True
    if isinstance(value, dict):
        pairs = {key: _reveal(item) for key, item in value.items()}
        return {key: item for key, (item, _) in pairs.items()}, any(secret for _, secret in pairs.values())
    if isinstance(value, list):
        items = [_reveal(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def stack_config_and_secrets(stack: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], frozenset[str]]:
    """The flat ``mlplatform:key`` -> string map the CLI would hand the program, and the keys it holds as secrets."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    flat = {f"{config.PROJECT}:{key}": encode(decl["default"]) for key, decl in project.get("config", {}).items()}
    path = stack_file(stack)
    if not path.exists():
        raise config.ConfigError(f"no stack file {path.relative_to(ROOT)}; stacks are {', '.join(available_stacks())}")
    secrets: set[str] = set()
    entries = {**_read_stack_file(path), **{f"{config.PROJECT}:{key}": value for key, value in (overrides or {}).items()}}
    for key, value in entries.items():
        revealed, secret = _reveal(value)
        flat[key] = encode(revealed)
        if secret:
            secrets.add(key)
        else:
            secrets.discard(key)
    return flat, frozenset(secrets)


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The flat ``mlplatform:key`` -> string map the CLI would hand the program."""
    return stack_config_and_secrets(stack, overrides)[0]


def secret_keys(stack: str, overrides: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The config keys of ``stack`` (and ``overrides``) given encrypted, as the CLI marks them for the program."""
    return stack_config_and_secrets(stack, overrides)[1]


def settings_of(stack: str, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], config.Settings]:
    """The flat config and the validated settings of ``stack``; every error names the stack file."""
    flat, secrets = stack_config_and_secrets(stack, overrides)
    try:
        config.check_secrets(flat, secrets.__contains__)
        settings = config.parse_settings(config.decode_config(flat))
        config.check_stack(stack, settings)
        return flat, settings
    except config.ConfigError as error:
        raise config.ConfigError(f"{stack_file(stack).relative_to(ROOT)}: {error}") from None


def run(stack: str, overrides: Mapping[str, Any] | None = None, step_image_pushed: bool = True, preview: bool = False) -> OfflineRun:
    """Run the program for ``stack`` (config optionally overridden) under mocks; ``step_image_pushed``: whether the
    stack's ECR repository holds the step image of this checkout (as after the deploy workflow's push); ``preview``:
    as `pulumi preview` runs it (dry run) instead of `pulumi up`."""
    flat, settings = settings_of(stack, overrides)
    secrets = stack_config_and_secrets(stack, overrides)[1]
    mocks = PlatformMocks(settings.aws_region, step_image_pushed=step_image_pushed)
    resources, outputs = run_program(config.PROJECT, stack, flat, lambda: program.build(config.load()), mocks, preview, secrets)
    return OfflineRun(stack=stack, settings=settings, resources=resources, outputs=outputs)


def run_program(project: str, stack: str, flat: Mapping[str, str], build: Callable[[], Mapping[str, Any]], mocks: PlatformMocks,
                preview: bool = False, secret_keys: frozenset[str] = frozenset()) -> tuple[list[Registration], dict[str, Any]]:
    """Run a Pulumi program (``build`` declares it and returns its exports) under ``mocks``: its registrations and outputs
    (``secret_keys``: the config keys the CLI would mark as secrets)."""
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(dict(flat), sorted(secret_keys))
    outputs: dict[str, Any] = {}

    def main() -> Any:
        return pulumi.Output.from_input(build()).apply(outputs.update).future()

    _sync_await(run_pulumi_func(main))
    return list(monitor.registrations), outputs
