"""A generator of realistic IVR flows for benchmarks (parse, compile) and tests.

`generate_corpus(n, seed)` returns n `(filename, text)` pairs; each text is one canonical
formatted flow of about 25 lines built from the constructs real call centers use (screening,
work hours, menus with retries, digit collection, function calls with read-back, queues with an
in-queue experience, named agents, voicemail, survey), using only the names of the bundled
example call center (examples/). The same seed gives the same corpus.
"""

from __future__ import annotations

import random
import sys

GROUPS = ("sales", "support", "billing", "vip")
AGENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
          "ken", "lucy")
PROMPTS = ("main-greeting", "invalid-key", "no-input", "all-busy", "closed", "holiday", "bye",
           "enter-account", "account-not-found", "vip-welcome", "voicemail-intro", "blocked")

KINDS = ("queue", "lookup", "agent", "voicemail", "play", "data_queue", "message", "extension")
KIND_WEIGHTS = (3, 3, 3, 3, 3, 1, 1, 2)
"""How often each kind of step is drawn: the long data-driven queue least."""


def _target_step(rng: random.Random, label: str, menu: str) -> list[str]:
    """One step reached from the menu, in canonical layout (4 to 20 lines)."""
    kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    group = rng.choice(GROUPS)
    if kind == "data_queue":  # issue 10: a queue from data, capacity, a script, arithmetic
        return [
            f"  {label}:",
            f'    set dept = "{group}"',
            '    if call.headers.x_customer_tier == "gold" -> set dept = "vip"',
            "    transfer queue dept",
            "        priority length(caller.number) % 3 + 1",
            f"        timeout {rng.choice(('5m', '10m', '15m'))}",
            '        music "hold-music"',
            f"        capacity {rng.randint(10, 50)}",
            "        when_empty wait",
            "        waiting {",
            "          every 1m from 30s say position",
            '          after 25s offer voicemail key 1 prompt "voicemail-intro"',
            "        } {",
            f'      busy -> voicemail "{group}"',
            f'      full -> play "all-busy" then voicemail "{group}"',
            f'      failed -> voicemail "{group}"',
            f'      timeout -> voicemail "{group}" prompt "voicemail-intro" {{',
            '        done -> play "bye" then hangup',
            "      }",
            f'      voicemail -> voicemail "{group}"',
            "    }",
        ]
    if kind == "message":  # issue 10: record that goes on, playback, a pause
        return [
            f"  {label}:",
            '    say "Leave a message after the tone, then press #."',
            f"    record msg maxlength {rng.choice(('1m', '2m', '3m'))} silence 3s beep "
            f'terminator # as voicemail "{group}"',
            f"    pause {rng.choice(('500ms', '1s', '2s'))}",
            '    play recording msg, say "Thank you, {{ caller.number }}."',
            "    hangup",
        ]
    if kind == "extension":  # issue 10: the matched key as a value, transfer sip from data
        return [
            f"  {label}:",
            '    call function "directory" with { extension: menu.input } as ext {',
            f"      ok -> transfer sip ext.uri timeout {rng.randint(15, 29)}s {{",
            f'        busy -> play "all-busy" then {menu}',
            f'        timeout -> voicemail "{group}"',
            f"        failed -> {menu}",
            "      }",
            f'      error -> play "invalid-key" then {menu}',
            "    }",
        ]
    if kind == "queue":
        return [
            f"  {label}:",
            f'    transfer queue "{group}" priority {rng.randint(0, 9)} '
            f'timeout {rng.choice(("1m", "90s", "2m", "5m"))} familiar music "hold-music" {{',
            f'      busy -> play "all-busy" then voicemail "{group}"',
            f'      timeout -> voicemail "{group}"',
            "      done -> call flow survey",
            "    }",
        ]
    if kind == "lookup":
        return [
            f"  {label}:",
            f"    collect account digits {rng.randint(4, 8)}..12 terminator # "
            f'prompt "enter-account" timeout {rng.randint(5, 10)}s retries 3 {{',
            "      ok -> call function \"account-lookup\" with { account: account } "
            f"timeout {rng.randint(1, 3)}s {{",
            '        ok -> say "Your balance is {{ result.balance }} yuan." then ' + menu,
            f'        error -> play "all-busy" then {menu}',
            "      }",
            '      exhausted -> play "bye" then hangup',
            "    }",
        ]
    if kind == "agent":
        return [
            f"  {label}:",
            f'    transfer agent "{rng.choice(AGENTS)}" timeout {rng.randint(15, 29)}s {{',
            f'      busy -> transfer queue "{group}" timeout 2m {{',
            f'        busy -> voicemail "{group}"',
            f'        timeout -> voicemail "{group}"',
            "      }",
            f'      timeout -> voicemail "{group}"',
            "    }",
        ]
    if kind == "voicemail":
        return [
            f"  {label}:",
            f'    play "{rng.choice(PROMPTS)}"',
            f'    voicemail "{group}" prompt "voicemail-intro" '
            f"maxlength {rng.choice((1, 3, 4, 5))}m",
        ]
    return [
        f"  {label}:",
        f'    play "{rng.choice(PROMPTS)}", say "Thank you for calling, {{{{ caller.number }}}}."',
        '    set tail = slice(caller.number, -4) + text(length(caller.number) * 2 % 10)',
        "    hangup",
    ]


def generate_flow(rng: random.Random, index: int) -> str:
    """One flow named `flow_<index>`, of about 25 lines."""
    labels = [f"option_{k}" for k in range(1, (3 if rng.random() < 0.2 else 2) + 1)]
    lines = [f'flow flow_{index} "Generated line {index}" {{', "  start:"]
    if rng.random() < 0.1:
        lines += [
            '    blacklist "inbound-block" {',
            '      listed -> play "blocked" then hangup',
            "      clear -> hours_check",
            "    }",
            "",
            "  hours_check:",
        ]
    if rng.random() < 0.5:
        lines += [
            '    hours "support-hours" {',
            "      open -> main_menu",
            '      closed -> play "closed" then hangup',
            '      holiday -> play "holiday" then hangup',
            "    }",
            "",
            "  main_menu:",
        ]
    else:
        lines += ['    say "Welcome, {{ caller.number }}." bargein', "", "  main_menu:"]
    patterned = rng.random() < 0.3  # a key pattern (`5XX`): several digits, so interdigit
    lines += [
        f'    menu prompt "main-greeting" timeout {rng.randint(3, 8)}s '
        + ("interdigit 2s " if patterned else "") + f"retries {rng.randint(1, 3)} {{",
    ]
    lines += [f"      {k} -> {label}" for k, label in enumerate(labels, start=1)]
    if patterned:
        lines.append(f"      5XX -> {labels[-1]}")
    lines += [
        '      nomatch -> play "invalid-key" then reprompt',
        '      exhausted -> play "bye" then hangup',
        "    }",
    ]
    for label in labels:
        lines.append("")
        lines += _target_step(rng, label, "main_menu")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate_corpus(n: int, seed: int) -> list[tuple[str, str]]:
    """n `(filename, text)` pairs, one flow per file, deterministic for a seed."""
    rng = random.Random(seed)
    return [(f"flow_{i:05d}.ivr", generate_flow(rng, i)) for i in range(n)]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    for name, text in generate_corpus(count, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 0):
        sys.stdout.write(f"// {name}\n{text}\n")
