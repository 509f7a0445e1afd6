"""Snapshots of the three plan renderings (terminal, Markdown, JSON) for the change cases a
reviewer meets, each against the examples as applied to the local staging target."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from deploy_helpers import RUNTIME, ccc, edit, normalise
from repos import copy_examples
from syrupy.assertion import SnapshotAssertion

from ccc_dsl.deploy.apply import Planned, plan_env
from ccc_dsl.deploy.flowdiff import SourceLine
from ccc_dsl.views.plan_json import render_json
from ccc_dsl.views.plan_markdown import render_markdown
from ccc_dsl.views.plan_text import render_text


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples applied once; each case works on a copy."""
    repo = copy_examples(tmp_path_factory.mktemp("applied") / "repo")
    edit(repo / "people.yaml", "  lucy:\n", "  lucy:\n    lifecycle: {prevent_destroy: true}\n")
    result = ccc("apply", str(repo), "--auto-approve")
    assert result.exit_code == 0, result.output
    return repo


def _copy(applied: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(applied, repo, symlinks=True)
    return repo


def new_number(repo: Path) -> None:
    edit(repo / "numbers.yaml", "\nflow_bindings:\n",
         '  press-line:\n    number: "+86 21 6123 9999"\n    type: landline\n'
         "\nflow_bindings:\n")


def rewired_menu_key(repo: Path) -> None:
    edit(repo / "flows/main.ivr", "      3 -> support\n", "      3 -> sales\n")


def renamed_skill_group(repo: Path) -> None:
    for name in ("people.yaml", "flows/account_lookup.ivr"):
        path = repo / name
        path.write_text(re.sub(r"\bbilling\b", "accounts", path.read_text("utf-8")), "utf-8")


def changed_instance_domain(repo: Path) -> None:
    edit(repo / "ccc.yaml", "domain: acme-cc-staging", "domain: acme-cc-stage2")


def deleted_resource(repo: Path) -> None:
    edit(repo / "outbound.yaml", "    blacklist: outbound-block\n", "")
    text = (repo / "outbound.yaml").read_text("utf-8")
    start = text.index("  outbound-block:")
    end = text.find("\n  ", start + 3)
    while end != -1 and text[end + 3] == " ":
        end = text.find("\n  ", end + 3)
    (repo / "outbound.yaml").write_text(text[:start] + (text[end + 1:] if end != -1 else ""),
                                        "utf-8")


def deleted_protected_resource(repo: Path) -> None:
    text = (repo / "people.yaml").read_text("utf-8")
    start = text.index("  lucy:\n")
    (repo / "people.yaml").write_text(text[:start], "utf-8")


def drift(repo: Path) -> None:
    current = repo / RUNTIME / "current"
    bundle = current / "bundle.json"
    doc = json.loads(bundle.read_text("utf-8"))
    doc["agents"]["alice"]["address"] = "sip:alice@10.9.9.9:5070"
    bundle.write_text(json.dumps(doc, indent=2, sort_keys=True), "utf-8")


def renamed_menu_key(repo: Path) -> None:
    edit(repo / "flows/main.ivr", "      2 -> call flow account_lookup then main_menu\n",
         "      4 -> call flow account_lookup then main_menu\n")


def inserted_node_in_chain(repo: Path) -> None:
    edit(repo / "flows/main.ivr", "      2 -> call flow account_lookup then main_menu\n",
         '      2 -> play "invalid-key" then call flow account_lookup then main_menu\n')


def changed_prompt_only(repo: Path) -> None:
    edit(repo / "flows/main.ivr", 'menu prompt "main-greeting"', 'menu prompt "language-menu"')


def shared_sub_flow(repo: Path) -> None:
    edit(repo / "flows/survey.ivr", "scale 1..5", "scale 1..9")
    edit(repo / "flows/survey.ivr", "      exhausted -> hangup\n",
         '      exhausted -> play "bye" then hangup\n')


CASES: dict[str, Callable[[Path], None]] = {
    f.__name__: f for f in (new_number, rewired_menu_key, renamed_menu_key,
                            inserted_node_in_chain, changed_prompt_only, renamed_skill_group,
                            changed_instance_domain, deleted_resource,
                            deleted_protected_resource, drift, shared_sub_flow)}


def _plan(repo: Path) -> Planned:
    planned = plan_env(repo, "staging")
    assert isinstance(planned, Planned), planned
    return planned


@pytest.mark.parametrize("case", CASES)
def test_plan_renderings(case: str, applied: Path, tmp_path: Path,
                         snapshot: SnapshotAssertion) -> None:
    repo = _copy(applied, tmp_path)
    CASES[case](repo)
    plan = _plan(repo).plan
    doc = json.loads(render_json(plan))
    doc["created"] = "<time>"
    noop = [c for c in doc["resource_changes"] if c["action"] == "no-op"]
    assert len(noop) == len(plan.changes) - sum(c.action != "no-op" for c in plan.changes)
    # no-ops are left out of this snapshot (their number grows with the examples)
    doc["resource_changes"] = [c for c in doc["resource_changes"] if c["action"] != "no-op"]
    assert normalise(render_text(plan), repo) == snapshot
    assert normalise(render_markdown(plan), repo) == snapshot
    assert normalise(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False),
                     repo) == snapshot


def test_expected_actions(applied: Path, tmp_path: Path) -> None:
    """What the snapshots show, asserted directly (so a bad snapshot can't hide it)."""
    def actions(case: str) -> dict[str, str]:
        repo = tmp_path / case
        shutil.copytree(applied, repo, symlinks=True)
        CASES[case](repo)
        return {c.address: c.action for c in _plan(repo).plan.changes if c.action != "no-op"}

    assert actions("new_number") == {"number.press-line": "create"}
    assert actions("rewired_menu_key") == {"flow.main": "update"}
    renamed = actions("renamed_skill_group")
    assert renamed["skill_group.billing"] == "delete"
    assert renamed["skill_group.accounts"] == "create"
    assert renamed["agent.frank"] == "update" and renamed["flow.account_lookup"] == "update"
    assert actions("changed_instance_domain") == {"instance.AcmeStaging": "replace"}
    assert actions("deleted_resource") == {"blacklist.outbound-block": "delete",
                                           "outbound_policy.default": "update"}
    assert actions("drift") == {"agent.alice": "update"}
    assert actions("shared_sub_flow") == {"flow.survey": "update"}


def test_order_creates_before_users_and_deletes_after(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    renamed_skill_group(repo)
    steps = {c.address: c.step for c in _plan(repo).plan.changes if c.action != "no-op"}
    assert steps["skill_group.accounts"] < steps["agent.frank"]
    assert steps["skill_group.accounts"] < steps["flow.account_lookup"]
    assert steps["skill_group.billing"] > max(steps["agent.frank"], steps["flow.account_lookup"])


def test_flows_calling_each_other_are_one_step(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    edit(repo / "flows/survey.ivr", "      ok -> hangup\n", "      ok -> call flow main\n")
    planned = plan_env(repo, "staging")
    if not isinstance(planned, Planned):  # the compiler refuses call cycles: then no plan
        assert any(d.is_error for d in planned)
        return
    steps = {c.address: c.step for c in planned.plan.changes}
    assert steps["flow.survey"] == steps["flow.main"]


def test_prevent_destroy_makes_the_plan_fail_at_the_setting(applied: Path,
                                                            tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    deleted_protected_resource(repo)
    plan = _plan(repo).plan
    assert [d.code for d in plan.errors] == ["S901"]
    assert str(plan.errors[0].span).endswith("people.yaml:69:3")
    result = ccc("plan", str(repo))
    assert result.exit_code == 1 and "S901" in result.output
    applied_result = ccc("apply", str(repo), "--auto-approve")
    assert applied_result.exit_code == 1
    assert "S901" in applied_result.output


def test_replacement_of_a_protected_instance_fails(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    edit(repo / "ccc.yaml", "instance:\n", "instance:\n  lifecycle: {prevent_destroy: true}\n")
    assert ccc("apply", str(repo), "--auto-approve").exit_code == 0  # lifecycle alone: no-op
    changed_instance_domain(repo)
    plan = _plan(repo).plan
    assert [d.code for d in plan.errors] == ["S901"]
    assert "replace `instance.AcmeStaging` (of domain)" in plan.errors[0].message


def test_markdown_is_cut_cleanly_under_the_limit(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    renamed_skill_group(repo)
    rewired_menu_key(repo)
    plan = _plan(repo).plan
    full = render_markdown(plan)
    cut = render_markdown(plan, limit=3000)
    assert len(cut) < 3000 < len(full)
    assert "left out to stay under 3,000 characters" in cut or "was cut here" in cut
    assert cut.count("<details>") == cut.count("</details>")
    assert cut.count("```") % 2 == 0


FLOW_WORDS = {
    "rewired_menu_key": [("menu `main_menu` key 3: `support` -> `sales`",
                          (25, "3 -> support"), (25, "3 -> sales"))],
    "renamed_menu_key": [("menu `main_menu`: key 2 is now key 4 (to `call flow account_lookup`)",
                          (24, "2 -> call flow account_lookup then main_menu"),
                          (24, "4 -> call flow account_lookup then main_menu"))],
    "inserted_node_in_chain": [
        ('new play at `main_menu/2`: play "invalid-key" (before `call flow account_lookup`)',
         None, (24, '2 -> play "invalid-key" then call flow account_lookup then main_menu'))],
    "changed_prompt_only": [
        ('menu `main_menu`: menu "main-greeting" -> menu "language-menu"',
         (22, 'menu prompt "main-greeting" timeout 6s interdigit 2s noinput 2 nomatch 3 {'),
         (22, 'menu prompt "language-menu" timeout 6s interdigit 2s noinput 2 nomatch 3 {'))],
}
"""Per flow case, every flow change a reviewer reads (message, line before, line after):
exactly one each, nothing about the nodes under a renamed key or after an inserted one."""


@pytest.mark.parametrize("case", FLOW_WORDS)
def test_a_flow_change_is_one_line_in_flow_words(case: str, applied: Path,
                                                 tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    CASES[case](repo)
    [change] = [c for c in _plan(repo).plan.changes if c.action != "no-op"]
    assert change.address == "flow.main"

    def pair(line: SourceLine | None) -> tuple[int, str] | None:
        return (line.line, line.text) if line is not None else None

    assert [(f.message, pair(f.before), pair(f.after)) for f in change.flow] == FLOW_WORDS[case]


def test_removed_key_and_node_in_flow_words(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    edit(repo / "flows/main.ivr", "      9 -> call flow vip_routing\n", "")
    [change] = [c for c in _plan(repo).plan.changes if c.action != "no-op"]
    assert change.address == "flow.main"
    messages = [f.message for f in change.flow]
    assert messages == ["menu `main_menu` key 9: exit removed (it led to `call flow "
                        "vip_routing`)",
                        "removed call flow at `main_menu/9`: call flow vip_routing"]
    removed = next(f for f in change.flow if f.change == "removed")
    assert removed.after is None and removed.before is not None
    assert removed.before.text == "9 -> call flow vip_routing"


def test_a_node_put_first_in_a_step_is_one_line(applied: Path, tmp_path: Path) -> None:
    """The step's label names its first node: the node that was first is one further down
    now, and nothing under it counts as changed."""
    repo = _copy(applied, tmp_path)
    edit(repo / "flows/main.ivr", "  choose_language:\n",
         '  choose_language:\n    play "invalid-key"\n')
    [change] = [c for c in _plan(repo).plan.changes if c.action != "no-op"]
    assert [f.message for f in change.flow] == [
        'new play `choose_language`: play "invalid-key" (before `if caller.language in '
        '["zh", "en"]`)']


def test_a_step_s_first_node_removed_is_one_line(applied: Path, tmp_path: Path) -> None:
    repo = _copy(applied, tmp_path)
    edit(repo / "flows/main.ivr", "    call flow screening\n", "")
    [change] = [c for c in _plan(repo).plan.changes if c.action != "no-op"]
    assert [f.message for f in change.flow] == [
        'removed call flow `start`: call flow screening (it was before `hours "support-hours"`)']
