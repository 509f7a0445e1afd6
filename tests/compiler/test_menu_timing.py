"""Time to agent with key patterns and a menu that repeats until the caller acts: `1XX` is
three presses, and a `retries forever` menu (here or in a sub-flow) is reported in the timing,
in `ccc compile`'s line and in build.json, with no diagnostic."""

from __future__ import annotations

from cc_helpers import analyse_text

from ccc_dsl.compiler.timing import flow_timing

FLOWS = '''flow t "T" {
  start:
    menu prompt say "Dial an extension" timeout 5s interdigit 2s retries 1 {
      1XX -> transfer queue "sales" timeout 1m { busy -> hangup  timeout -> hangup }
      [2-3] -> call flow attendant then hangup
      exhausted -> hangup
    }
}

flow attendant "Loops until the caller acts" {
  start:
    menu prompt say "Press 1" timeout 5s noinput forever nomatch 2 {
      1 -> return
      exhausted -> return
    }
}
'''


def test_pattern_presses_and_a_repeating_menu_in_a_sub_flow() -> None:
    result, diagnostics = analyse_text(FLOWS)
    assert [d.code for d in diagnostics] == []
    timing = flow_timing(result.program, "t")
    assert timing.key_presses == 3  # 1XX
    sub = flow_timing(result.program, "attendant")
    assert sub.repeats is not None and sub.repeats.line == 12
    assert timing.repeats == sub.repeats  # reached through `call flow attendant`
    assert timing.as_json() == {"seconds": timing.as_json()["seconds"], "key_presses": 3,
                                "until_caller_acts": True}


def test_a_menu_with_a_limit_repeats_nothing() -> None:
    result, _ = analyse_text(FLOWS.replace("noinput forever", "noinput 2"))
    timing = flow_timing(result.program, "t")
    assert timing.repeats is None and "until_caller_acts" not in timing.as_json()
