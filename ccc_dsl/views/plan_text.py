"""The plan on a terminal: Terraform's markers (+ create, ~ update, -/+ replace, - delete),
drift apart from the repo's changes, flow changes in DSL words, and the summary line."""

from __future__ import annotations

import json
from typing import Any

from ccc_dsl.deploy.plan import AttributeChange, Change, HostPlan, Plan
from ccc_dsl.views.terminal import paint, visible

MARKERS = {"create": ("+", "32"), "update": ("~", "33"), "replace": ("-/+", "35"),
           "delete": ("-", "31")}
_MAX_VALUE = 200


def value_text(value: Any) -> str:
    """A JSON value on one line, shortened."""
    text = visible(json.dumps(value, ensure_ascii=False, sort_keys=True))  # C1, direction marks
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    if plan.operation == "destroy" and not plan.has_changes:
        return "No changes. Nothing to destroy."
    if not plan.has_changes:
        return "No changes. The target runs what the repo says."
    line = (f"Plan: {counts['add']} to add, {counts['change']} to change, "
            f"{counts['destroy']} to destroy.")
    if counts["hosts"]:
        verb = "clear" if plan.operation == "destroy" else "update"
        line += f" {counts['hosts']} host(s) to {verb}."
    return line


def host_runs(h: HostPlan) -> str:
    """What a host runs, in words: `runs 5d1c0e2a9b7f`, or what was last known of it."""
    running = h.running[:12] if h.running else "nothing"
    if not h.known:
        return f"last known to run {running}; the last apply could not reach it"
    return f"runs {running}"


def attribute_line(a: AttributeChange, action: str) -> str:
    forced = "  # forces replacement" if a.forces_replacement else ""
    if action == "create" or a.before is None:
        return f"{a.path}: {value_text(a.after)}{forced}"
    if action == "delete" or a.after is None:
        return f"{a.path}: {value_text(a.before)} (removed)"
    return f"{a.path}: {value_text(a.before)} -> {value_text(a.after)}{forced}"


def change_title(c: Change) -> str:
    notes = []
    if c.action == "replace":
        notes.append("forces replacement")
    if c.drift:
        notes.append("restores what was changed outside ccc")
    if c.called_by:
        notes.append("called by " + ", ".join(f"`{a.partition('.')[2]}`" for a in c.called_by))
    return c.address + (f" ({'; '.join(notes)})" if notes else "")


def render_text(plan: Plan, color: bool = False) -> str:
    lines: list[str] = []
    where = f"environment `{plan.env}`" if plan.env else "the default environment"
    state = f"state serial {plan.serial}" if plan.lineage else "no state yet"
    refreshed = "refreshed" if plan.refreshed else "not refreshed (--refresh=false)"
    lines.append(f"Plan to {plan.operation} {where} on {plan.target} ({state}, {refreshed})")
    if plan.drift:
        lines += ["", paint("Changed outside ccc (drift, apart from the repo's changes):",
                            "1;33", color)]
        for d in plan.drift:
            if d.address is None:
                lines.append(f"  {d.host}: {d.message}")
                continue
            lines.append(f"  {paint('~', '33', color)} {d.address} (on {d.host})")
            lines += [f"      {attribute_line(a, 'update')}" for a in d.changes]
    shown = [c for c in plan.changes if c.action != "no-op"]
    if shown:
        lines += ["", "Changes, in order (a step depends only on earlier steps):"]
    step = 0
    for c in shown:
        if c.step != step:
            step = c.step
            lines.append(f"  step {step}")
        mark, code = MARKERS[c.action]
        lines.append(f"  {paint(mark, code, color)} {change_title(c)}")
        body = c.attributes + c.hashes if c.action != "delete" else []
        lines += [f"      {attribute_line(a, c.action)}" for a in body
                  if c.kind != "flow" or a.path != "bytecode"]
        if c.kind == "flow" and c.action == "update" and not c.flow and not c.drift:
            lines.append("      the compiled flow changed (its steps read the same)")
        for f in c.flow:
            lines.append(f"      {f.message}")
            if f.before is not None and f.before == f.after:  # the same line: shown once
                lines.append(f"          {f.before.line}: {visible(f.before.text)}")
                continue
            if f.before is not None:
                lines.append(paint(f"        - {f.before.line}: {visible(f.before.text)}", "31",
                                   color))
            if f.after is not None:
                lines.append(paint(f"        + {f.after.line}: {visible(f.after.text)}", "32",
                                   color))
    hosts = [h for h in plan.hosts if h.action != "none" or h.error]
    if hosts:
        lines += ["", "Hosts:"]
        for h in hosts:
            if h.error:
                lines.append(f"  {h.host}: can't refresh: {h.error}")
            elif h.action == "deploy":
                lines.append(f"  {h.host}: deploy bundle {(plan.bundle_digest or '')[:12]} "
                             f"({host_runs(h)})")
            else:
                lines.append(f"  {h.host}: remove current ({host_runs(h)})")
    for problem in plan.errors:
        lines += ["", paint(f"Error: {problem.code} {problem.message}", "1;31", color)]
        lines += [f"  at {problem.span}"] if problem.span else []
        lines += [f"  hint: {problem.hint}"] if problem.hint else []
    lines += ["", paint(summary_line(plan), "1", color)]
    return "\n".join(lines) + "\n"
