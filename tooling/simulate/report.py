"""The simulation as a reviewer reads it: the waves, what each step awaits and for how long, then the
findings of every check (``simulate``), or the same for `pulumi destroy` (``simulate_destroy``)."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from tooling import offline, render
from tooling.simulate import awaits, destroy, order, reachability, references
from tooling.simulate.engine import DIRECTORY, RELEASE, SHOWN, Plan, hook_phases, short_type
from tooling.simulate.findings import CLASSES, Finding

# Checks written beside this package, each ``findings(...)``: called when present (see _other_checks).
OTHER_CHECKS = ("scheduling", "placement", "names")


@dataclass
class Outcome:
    """What the simulation prints, what it found, and whether `pulumi destroy` would refuse outright."""

    lines: list[str]
    findings: list[Finding]
    refused: str = ""
    must: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings or self.refused else 0

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _awaited(plan: Plan, urn: str) -> str:
    """``Deployment a, b; Job c (hook)``: what a step waits for, by kind."""
    by_kind: dict[str, list[str]] = {}
    for obj in plan.awaited(urn):
        if obj.get("kind") in SHOWN:
            by_kind.setdefault(obj["kind"], []).append(obj["metadata"]["name"] + (" (hook)" if hook_phases(obj) else ""))
    return "; ".join(f"{kind} {', '.join(sorted(names))}" for kind, names in sorted(by_kind.items()))


def _step_line(plan: Plan, urn: str) -> str:
    """One awaiting step: what it waits for, its timeout and the model's floor."""
    kind = plan.by_urn[urn].type
    floor = awaits.estimate(plan, urn)
    at_least = f", at least {floor} s" if floor else ""
    if kind not in (RELEASE, DIRECTORY):
        # A program resource awaits itself (its object's name may carry a hash of the commit: not shown).
        return f"  {plan.name(urn)}: awaited, {plan.timeout(urn)} s{at_least}"
    waits = _awaited(plan, urn) or "nothing"
    if kind == RELEASE:
        limit = f"; timeout {plan.timeout(urn)} s" + ("" if plan.awaits(urn) else ", skipAwait: hooks only")
    else:
        limit = f"; {plan.timeout(urn)} s per object" if plan.timeout(urn) else ""
    return f"  {plan.name(urn)}: awaits {waits}{limit}{at_least}"


def _finish(plan: Plan, seconds) -> int:
    """The longest chain of steps, each counted for ``seconds(urn)``."""
    finish: dict[str, int] = {}
    for wave in plan.waves():
        for r in wave:
            finish[r.urn] = seconds(r.urn) + max((finish[p] for p in plan.prereqs(r.urn)), default=0)
    return max(finish.values(), default=0)


def waves_lines(plan: Plan) -> list[str]:
    """The waves of a fresh `pulumi up`: each wave's resources by type, and each awaiting step on a line of its own."""
    lines = []
    for number, wave in enumerate(plan.waves(), 1):
        bound = max((plan.timeout(r.urn) for r in wave), default=0)
        lines.append(f"wave {number}" + (f" (up to {bound} s)" if bound else ""))
        grouped: dict[str, list[str]] = {}
        steps = []
        for r in wave:
            if r.type in (RELEASE, DIRECTORY) or plan.awaited(r.urn):
                steps.append(r.urn)
            else:
                grouped.setdefault(short_type(r.type), []).append(r.name)
        for kind, names in sorted(grouped.items()):
            lines.append(f"  {kind} {names[0]}" if len(names) == 1 else f"  {kind} x{len(names)}: {', '.join(sorted(names))}")
        lines += [_step_line(plan, urn) for urn in sorted(steps, key=plan.name)]
    floor = _finish(plan, lambda urn: awaits.estimate(plan, urn))
    ceiling = _finish(plan, plan.timeout)
    lines.append(f"Kubernetes waits along the longest chain: at least {floor} s, at most {ceiling} s "
                 "(floors of the awaits model; release and await timeouts). AWS resources' own create times are not counted.")
    return lines


def _call(module_name: str, plan: Plan) -> list[Finding]:
    """The findings of a check module written beside this one, or a finding saying it is missing."""
    try:
        module = importlib.import_module(f"tooling.simulate.{module_name}")
    except ModuleNotFoundError as error:
        if error.name != f"tooling.simulate.{module_name}":
            raise
        return [Finding(module_name, "simulation", f"tooling/simulate/{module_name}.py is missing: its check did not run")]
    if module_name == "names":
        return list(module.findings(plan.run))
    objects = [o.obj for o in plan.objects]
    if "resources" in inspect.signature(module.findings).parameters:
        return list(module.findings(plan.run.settings, objects, plan.run.resources))
    return list(module.findings(plan.run.settings, objects))


def _header(plan: Plan, what: str, waves: int) -> str:
    return f"{what} of {plan.run.stack}, simulated offline: {waves} waves, {len(plan.wave)} resources"


def _finish_lines(found: list[Finding]) -> list[str]:
    ordered = sorted(set(found), key=lambda f: (CLASSES.index(f.kind), f.subject, f.reason))
    return [f.line() for f in ordered] or ["no findings"]


def simulate(run: offline.OfflineRun, objects: list[render.Rendered], root: Path | None = None) -> Outcome:
    """A fresh-cluster `pulumi up` of ``run`` applying ``objects`` (``root``: the upstream, for charts' crds/)."""
    plan = Plan(run, objects, root)
    found = [*order.findings(plan), *references.findings(plan), *reachability.findings(plan), *awaits.findings(plan)]
    for name in OTHER_CHECKS:
        found += _call(name, plan)
    header = _header(plan, "pulumi up on a fresh cluster", len(plan.waves()))
    return Outcome([header, *waves_lines(plan), *_finish_lines(found)], sorted(set(found)))


def simulate_destroy(run: offline.OfflineRun, objects: list[render.Rendered], root: Path | None = None) -> Outcome:
    """`pulumi destroy` of ``run``: the reverse waves, findings, what the user must do, protection."""
    plan = Plan(run, objects, root)
    teardown = destroy.teardown(plan)
    waves = destroy.order(plan)
    lines = [_header(plan, "pulumi destroy", len(waves))]
    for number, wave in enumerate(waves, 1):
        lines.append(f"wave {number}: {', '.join(wave)}")
    lines += _finish_lines(teardown.findings)
    if teardown.must:
        lines += ["you must:", *(f"  - {item}" for item in teardown.must)]
    refused = ""
    if teardown.protected:
        refused = (f"REFUSED: pulumi destroy of {run.stack} stops at its {len(teardown.protected)} protected resources "
                   f"({', '.join(teardown.protected)}) in the preview, before deleting anything; "
                   "unprotect them (pulumi state unprotect) only to really delete the stack")
        lines.append(refused)
    return Outcome(lines, sorted(set(teardown.findings)), refused, teardown.must)


# The README section that shows staging's waves, and the fenced block in it that holds them.
README_SECTION = "## What a real `pulumi up` does"
_BLOCK = re.compile(r"```text\n.*?```", re.S)


def readme_block(readme: str) -> str:
    """The waves block of README_SECTION."""
    section = readme.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    (block,) = _BLOCK.findall(section)
    return block


def with_waves(readme: str, plan: Plan) -> str:
    """``readme`` with README_SECTION's block replaced by ``plan``'s waves."""
    head, rest = readme.split(README_SECTION, 1)
    section, sep, tail = rest.partition("\n## ")
    section = _BLOCK.sub(lambda _: "```text\n" + "\n".join(waves_lines(plan)) + "\n```", section, count=1)
    return head + README_SECTION + section + sep + tail
