"""The plan as a pull-request comment: the summary and a table first, then one collapsible
block per changed resource (flow changes in DSL words with the lines before and after, and a
Mermaid picture of each changed flow with the changed nodes marked). Kept under 60,000
characters (GitHub's comment limit is 65,536): what doesn't fit is left out with a note."""

from __future__ import annotations

from ccc_dsl.deploy.plan import Change, Plan
from ccc_dsl.views.plan_text import attribute_line, change_title, host_runs, summary_line

MAX_CHARS = 60_000
ICONS = {"create": "🟢 create", "update": "🟡 update", "replace": "🟣 replace",
         "delete": "🔴 delete"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _details(c: Change) -> str:
    out = [f"<details><summary><code>{c.address}</code>: {c.action}</summary>", ""]
    title = change_title(c)
    if title != c.address:
        out += [f"_{title.removeprefix(c.address).strip(' ()')}_", ""]
    attrs = [a for a in c.attributes + c.hashes if a.path != "bytecode"] \
        if c.action != "delete" else []
    if attrs:
        out += ["```", *(attribute_line(a, c.action) for a in attrs), "```", ""]
    for f in c.flow:
        out.append(f"- {f.message}")
        if f.before is not None and f.before == f.after:  # the same line: shown once
            out += ["  ```diff", f"    {f.before.line}: {f.before.text}", "  ```"]
        elif f.before is not None or f.after is not None:
            out.append("  ```diff")
            if f.before is not None:
                out.append(f"  - {f.before.line}: {f.before.text}")
            if f.after is not None:
                out.append(f"  + {f.after.line}: {f.after.text}")
            out.append("  ```")
    if c.flow:
        out.append("")
    if c.picture:
        out += ["Changed nodes are yellow:", "", "```mermaid", c.picture.rstrip("\n"), "```", ""]
    out.append("</details>")
    return "\n".join(out) + "\n"


def render_markdown(plan: Plan, limit: int = MAX_CHARS) -> str:
    env = f"`{plan.env}`" if plan.env else "the default environment"
    head = [f"### Plan to {plan.operation} {env}", "",
            f"**{summary_line(plan)}**", "",
            f"Target: {plan.target}. State: "
            + (f"serial {plan.serial}" if plan.lineage else "none yet")
            + ("" if plan.refreshed else " (not refreshed)") + ".", ""]
    shown = [c for c in plan.changes if c.action != "no-op"]
    if shown:
        head += ["| Step | Action | Resource | What changes |", "|---:|---|---|---|"]
        for c in shown:
            what = (f"{len(c.flow)} flow change(s)" if c.flow else
                    ", ".join(a.path for a in c.attributes[:4])
                    + (" …" if len(c.attributes) > 4 else "") if c.action == "update"
                    else "")
            if c.drift:
                what = "restores drift"
            head.append(f"| {c.step} | {ICONS[c.action]} | `{c.address}` | {_cell(what)} |")
        head.append("")
    if plan.drift:
        head += ["#### ⚠️ Changed outside ccc (drift)", ""]
        for d in plan.drift:
            if d.address is None:
                head.append(f"- **{d.host}**: {d.message}")
            else:
                head.append(f"- `{d.address}` on **{d.host}**: "
                            + "; ".join(_cell(attribute_line(a, "update")) for a in d.changes))
        head.append("")
    if plan.errors:
        head += ["#### ❌ The plan can't be applied", ""]
        head += [f"- **{d.code}** {_cell(d.message)}" + (f" (`{d.span}`)" if d.span else "")
                 for d in plan.errors]
        head.append("")
    hosts = [h for h in plan.hosts if h.action != "none" or h.error]
    if hosts:
        head += ["#### Hosts", ""]
        for h in hosts:
            head.append(f"- **{h.host}**: " + (f"can't refresh: {h.error}" if h.error else
                        f"{h.action} ({host_runs(h)})"))
        head.append("")
    text = "\n".join(head)
    note_room = 300
    if len(text) > limit - note_room:
        text = text[: text.rfind("\n", 0, limit - note_room)] + (
            f"\n\n> **Note:** the plan is longer than {limit:,} characters and was cut here; "
            "run `ccc plan` for the whole plan.\n")
        return text
    blocks = [_details(c) for c in shown if c.action != "delete"]
    for i, block in enumerate(blocks):
        if len(text) + len(block) + 1 > limit - note_room:
            text += (f"\n> **Note:** {len(blocks) - i} more block(s) left out to stay under "
                     f"{limit:,} characters; run `ccc plan` for the whole plan.\n")
            break
        text += "\n" + block
    return text
