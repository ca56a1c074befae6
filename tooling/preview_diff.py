"""Offline preview diff: what a change does to a stack, with no cloud credentials.

    python -m tooling.preview_diff --stack staging [--stack prod] --base origin/main [--out report.md]

Runs the program under mocks at the base revision (a clean export of it, in a
subprocess) and at the working tree, and prints a Markdown report: resources
added, removed and changed with the changed input keys (old -> new; a secret
only as "secret changed"), the policy pack's violations at head, and the monthly
cost at both. A change that makes the provider replace the resource is marked
"replace" from the provider's schema (tooling/replacements.py), and replacements
and deletions of stateful resources are listed first.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import ConfigError
from tooling import cost, offline, replacements
from tooling.snapshot import DIGEST_KEY, DIGEST_KEY_ENV, is_secret, snapshot

ROOT = Path(__file__).resolve().parent.parent
MAX_VALUE = 160
# What holds data or everything else: replacing or deleting one of these loses data or the cluster.
STATEFUL = frozenset({
    "aws:s3/bucket:Bucket", "aws:rds/instance:Instance", "aws:kms/key:Key", "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup", "aws:ecr/repository:Repository", "kubernetes:core/v1:PersistentVolumeClaim",
})


@dataclass
class Diff:
    """Resources added, removed and changed between two snapshots."""

    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[tuple[dict, list[tuple[str, Any, Any]]]] = field(default_factory=list)
    unchanged: int = 0
    # Values the provider computes (ids, ARNs): invented by the mocks offline, so never shown as if real.
    computed: set[str] = field(default_factory=set)

    def replaced(self, rules: replacements.Rules) -> list[tuple[dict, list[str]]]:
        """Changed resources the provider replaces, with the keys that force it."""
        found = []
        for resource, changes in self.changed:
            keys = [key for key, _, _ in changes if rules.forces_replacement(resource["type"], key)]
            if keys:
                found.append((resource, keys))
        return found

    def maybe_replaced(self, rules: replacements.Rules) -> list[tuple[dict, list[str]]]:
        """Changed resources the provider may replace: no key known to force it, some whose effect is not known."""
        found = []
        for resource, changes in self.changed:
            forced = {key: rules.forces_replacement(resource["type"], key) for key, _, _ in changes}
            if not any(forced.values()) and None in forced.values():
                found.append((resource, [key for key, force in forced.items() if force is None]))
        return found


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested inputs as ``{"a.b[0].c": leaf}``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out |= flatten(child, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, child in enumerate(value):
            out |= flatten(child, f"{prefix}[{index}]")
        return out
    return {prefix: value}


def diff(base: dict[str, Any], head: dict[str, Any]) -> Diff:
    """Compare two snapshots resource by resource (by URN), input key by input key."""
    result = Diff(computed={*base.get("computed", []), *head.get("computed", [])})
    for urn, resource in head["resources"].items():
        before = base["resources"].get(urn)
        if before is None:
            result.added.append(resource)
            continue
        old, new = flatten(before["inputs"]), flatten(resource["inputs"])
        changes = [(key, old.get(key), new.get(key)) for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
        if before.get("protect") != resource.get("protect"):
            changes.append(("(protect)", before.get("protect"), resource.get("protect")))
        # An edit to a file of a local overlay or chart (a base made before snapshots had them has none).
        if "sources" in before and "sources" in resource:
            files_before, files_after = before["sources"], resource["sources"]
            changes += [(f"(file) {name}", files_before.get(name), files_after.get(name))
                        for name in sorted(set(files_before) | set(files_after)) if files_before.get(name) != files_after.get(name)]
        if changes:
            result.changed.append((resource, changes))
        else:
            result.unchanged += 1
    result.removed = [r for urn, r in base["resources"].items() if urn not in head["resources"]]
    return result


def _show(value: Any, computed: set[str] = frozenset()) -> str:
    if isinstance(value, str) and value in computed:
        return "(computed)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the engine's numbers are floats
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    if value is None:
        text = "(none)"
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _change(resource_type: str, key: str, old: Any, new: Any, rules: replacements.Rules, computed: set[str] = frozenset()) -> str:
    shown = "secret changed" if is_secret(old) or is_secret(new) else f"`{_show(old, computed)}` → `{_show(new, computed)}`"
    mark = " **(forces replacement)**" if rules.forces_replacement(resource_type, key) else ""
    return f"  - `{key}`: {shown}{mark}"


def _attention(result: Diff, rules: replacements.Rules) -> list[str]:
    """Replacements and deletions of stateful resources, then every other replacement: what a reviewer reads first."""
    replaced = result.replaced(rules)
    stateful = [f"- **replace** `{r['type']}` **{r['name']}** (by `{'`, `'.join(keys)}`)"
                + (": protected, so `pulumi up` will refuse until it is unprotected" if r.get("protect") else "")
                for r, keys in replaced if r["type"] in STATEFUL]
    stateful += [f"- **delete** `{r['type']}` **{r['name']}**" + (" (protected: `pulumi up` will refuse)" if r.get("protect") else "")
                 for r in result.removed if r["type"] in STATEFUL]
    # Without the provider's schema a change of a stateful or cluster-level resource may be a replacement: listed here too.
    stateful += [f"- **update or replace** `{r['type']}` **{r['name']}** (by `{'`, `'.join(keys)}`: no provider schema to tell)"
                 + (": protected, so a replacement would be refused" if r.get("protect") else "")
                 for r, keys in result.maybe_replaced(rules) if r["type"] in STATEFUL]
    others = [f"- **replace** `{r['type']}` **{r['name']}** (by `{'`, `'.join(keys)}`)" for r, keys in replaced if r["type"] not in STATEFUL]
    lines = []
    if stateful:
        lines += ["### ⚠️ Stateful resources replaced or deleted (or, without a schema, maybe replaced)", ""] + stateful + [""]
    if others:
        lines += ["### Replaced", ""] + others + [""]
    if rules.missing:
        lines += [f"_Replacements not known for {', '.join(f'{p} {v}' for p, v in sorted(rules.missing.items()))}: "
                  "no provider schema here; run `make provider-schemas` (needs the Pulumi CLI)._", ""]
    return lines


def render(
    stack: str, base_label: str, result: Diff, violations: list, base_cost: list, head_cost: list, prices: dict[str, Any],
    rules: replacements.Rules | None = None,
) -> str:
    """The Markdown report of one stack."""
    rules = rules if rules is not None else replacements.load()
    # A count of replacements only when every provider's schema was read (otherwise a lower bound).
    replaced = "" if rules.missing else f" ({len(result.replaced(rules))} replaced)"
    lines = [
        f"## Offline preview: `{stack}` ({base_label} → working tree)",
        "",
        f"**{len(result.added)} to add, {len(result.changed)} to change{replaced}, {len(result.removed)} to delete**, "
        f"{result.unchanged} unchanged.",
        "",
        *_attention(result, rules),
    ]
    for title, items in (("Added", result.added), ("Deleted", result.removed)):
        if items:
            lines += [f"### {title}", ""] + [f"- `{r['type']}` **{r['name']}**" for r in items] + [""]
    if result.changed:
        lines += ["### Changed", ""]
        for resource, changes in result.changed:
            forced = [rules.forces_replacement(resource["type"], key) for key, _, _ in changes]
            action = "**replace**" if any(forced) else "update" if None not in forced else "update or replace"
            lines.append(f"- {action} `{resource['type']}` **{resource['name']}**")
            lines += [_change(resource["type"], key, old, new, rules, result.computed) for key, old, new in changes]
        lines.append("")
    mandatory = [v for v in violations if v.level == "mandatory"]
    lines += [f"### Policy pack at head: {len(mandatory)} mandatory, {len(violations) - len(mandatory)} advisory", ""]
    lines += [f"- **{v.level}** `{v.policy}` ({v.severity}) on `{v.urn.rsplit('::', 1)[-1]}`: {v.message}" for v in violations]
    if violations:
        lines.append("")
    (base_desired, base_max), (head_desired, head_max) = cost.total(base_cost), cost.total(head_cost)
    lines += [
        "### Monthly cost estimate (USD)",
        "",
        "| item | desired | at max | note |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {line.item} | {_usd(line.desired)} | {_usd(line.maximum)} | {line.note} |" for line in head_cost]
    missing = len(cost.unpriced(head_cost)) + len(cost.unpriced(base_cost))
    lines += [
        f"| **total at head** | **{head_desired:,.0f}** | **{head_max:,.0f}** | {'without the unpriced lines' if missing else ''} |",
        f"| total at base | {base_desired:,.0f} | {base_max:,.0f} | |",
        f"| **delta** | **{head_desired - base_desired:+,.0f}** | **{head_max - base_max:+,.0f}** | |",
        "",
        f"_Prices: {prices['source']}, {prices['date']}; spot at {prices['spot_discount']:.0%} off on-demand._",
        "",
    ]
    return "\n".join(lines)


def _usd(amount: float | None) -> str:
    return "unpriced" if amount is None else f"{amount:,.0f}"


def export_revision(revision: str, target: Path) -> None:
    """Write the tree of ``revision`` into ``target`` (no checkout, no worktree)."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"error: cannot read revision {revision!r}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")


def snapshot_at_revision(revision: str, stack: str) -> dict[str, Any]:
    """The snapshot of ``stack`` as the program at ``revision`` declares it."""
    with tempfile.TemporaryDirectory(prefix="preview-base-") as tmp:
        export_revision(revision, Path(tmp))
        # The snapshot tool as that revision has it (it moved from infra/ to tooling/).
        module = next((f"{package}.snapshot" for package in ("tooling", "infra") if (Path(tmp) / package / "snapshot.py").exists()), None)
        if module is None:
            raise SystemExit(f"error: revision {revision} predates the snapshot tool; diff against a newer base")
        if not (Path(tmp) / "stacks" / f"Pulumi.{stack}.yaml").exists():
            # A stack new in this change: everything it declares is added.
            return {"stack": stack, "resources": {}, "outputs": {}}
        # The same digest key as this process's snapshots: a secret that changed shows as changed.
        result = subprocess.run([sys.executable, "-m", module, "--stack", stack], cwd=tmp, capture_output=True, text=True,
                                check=False, env={**os.environ, DIGEST_KEY_ENV: DIGEST_KEY})
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1].removeprefix("error: ")
        raise SystemExit(f"error: at the base revision {revision}: {last}")
    return json.loads(result.stdout)


def report(stack: str, base: dict[str, Any], head_run: offline.OfflineRun, base_label: str,
           rules: replacements.Rules | None = None) -> str:
    """Diff, policy results and costs of one stack as Markdown."""
    from tooling.policy_report import evaluate

    head = json.loads(json.dumps(snapshot(head_run), default=str))
    region, prices = head_run.settings.aws_region, cost.load_prices()
    return render(
        stack, base_label, diff(base, head), evaluate(head_run),
        cost.estimate(base, region, prices), cost.estimate(head, region, prices), prices, rules,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", choices=offline.available_stacks(), help="stack (repeatable; default staging)")
    parser.add_argument("--base", default="origin/main", help="git revision to compare with (default origin/main)")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    sections = []
    for stack in args.stack or ["staging"]:
        try:
            head = offline.run(stack)
        except ConfigError as error:
            print(f"error: stack {stack}: {error}", file=sys.stderr)
            return 2
        sections.append(report(stack, snapshot_at_revision(args.base, stack), head, f"`{args.base}`"))
    text = "\n".join(sections)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
