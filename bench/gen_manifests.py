"""Generate a large config repo for benchmarks: 10,000 resources spread over 100 YAML files
(agents, numbers, flow bindings, skill groups, prompts) and the one flow they bind, valid as a
whole.

    python bench/gen_manifests.py OUT_DIR [--resources 10000] [--files 100]
"""

from __future__ import annotations

import argparse
from pathlib import Path

SHARES = {"agents": 0.60, "numbers": 0.10, "flow_bindings": 0.10, "skill_groups": 0.05,
          "prompts": 0.15}


def _number(i: int) -> str:
    return f"+86 21 6{i // 10000 % 1000:03d} {i % 10000:04d}"


def _agent(i: int, groups: int) -> str:
    g1, g2 = i % groups, (i * 7 + 3) % groups
    levels = f"g{g1}: {i % 10 + 1}" + (f", g{g2}: {(i + 3) % 10 + 1}" if g2 != g1 else "")
    return (f"  agent{i}:\n    display_name: Agent {i}\n"
            f"    sip: sip:agent{i}@${{var.agent_host}}:{5000 + i % 60000}\n"
            f"    groups: {{{levels}}}\n")


def _prompt(i: int) -> str:
    return (f"  prompt{i}:\n    default_language: zh\n    languages:\n"
            f"      zh: {{tts: \"提示 {i}\"}}\n      en: {{tts: \"Prompt number {i}\"}}\n")


def generate(out: Path, resources: int = 10_000, files: int = 100) -> dict[str, int]:
    """Write the repo; returns the count of resources per kind."""
    counts = {kind: int(resources * share) for kind, share in SHARES.items()}
    counts["agents"] += resources - sum(counts.values())
    counts["flow_bindings"] = counts["numbers"]
    per_file = max(1, resources // files)
    groups, numbers = counts["skill_groups"], counts["numbers"]
    entries: list[tuple[str, str]] = []
    entries += [("numbers", f"  n{i}:\n    number: \"{_number(i)}\"\n    type: landline\n"
                 f"    outbound_concurrency: {i % 20}\n") for i in range(numbers)]
    entries += [("flow_bindings", f"  b{i}:\n    number: n{i}\n    flow: main\n")
                for i in range(numbers)]
    entries += [("skill_groups", f"  g{i}:\n    outbound_numbers: [n{i % numbers}]\n")
                for i in range(groups)]
    entries += [("agents", _agent(i, groups)) for i in range(counts["agents"])]
    entries += [("prompts", _prompt(i)) for i in range(counts["prompts"])]
    out.mkdir(parents=True, exist_ok=True)
    (out / "ccc.yaml").write_text(
        "ccc: 1\ninclude: [\"resources/*.yaml\"]\ndefault_env: bench\n"
        "environments:\n  bench:\n    variables: {agent_host: 127.0.0.1}\n"
        "instance:\n  name: Bench\n  domain: bench\n", encoding="utf-8")
    flows = out / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "main.ivr").write_text(
        'flow main "Benchmark line" {\n  start:\n    play "prompt0" then hangup\n}\n',
        encoding="utf-8")
    res = out / "resources"
    res.mkdir(exist_ok=True)
    for f in range(files):
        chunk = entries[f * per_file : (f + 1) * per_file if f < files - 1 else None]
        text: list[str] = []
        kind = ""
        for entry_kind, body in chunk:
            if entry_kind != kind:
                text.append(f"{entry_kind}:\n")
                kind = entry_kind
            text.append(body)
        (res / f"part{f:03d}.yaml").write_text("".join(text), encoding="utf-8")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    counts = generate(args.out, args.resources, args.files)
    print(f"wrote {sum(counts.values())} resources in {args.files} files to {args.out}: {counts}")


if __name__ == "__main__":
    main()
