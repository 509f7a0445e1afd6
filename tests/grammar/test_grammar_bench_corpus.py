"""The benchmark corpus generator (bench/gen_flows.py, reused by the compiler benchmark) makes
valid, canonical, deterministic flows of about 30 lines that use the constructs of issue 10."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import ModuleType

from ccc_dsl.grammar.formatter import format_text
from ccc_dsl.grammar.parser import parse_text

GEN = Path(__file__).parents[2] / "bench" / "gen_flows.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_flows", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_flows_are_valid_canonical_and_deterministic() -> None:
    gen = load_generator()
    corpus = gen.generate_corpus(60, 7)
    assert corpus == gen.generate_corpus(60, 7)
    assert corpus != gen.generate_corpus(60, 8)
    assert len({name for name, _ in corpus}) == 60
    for name, text in corpus:
        result = parse_text(text, name)
        assert result.diagnostics == [], (name, result.diagnostics)
        assert result.module is not None and len(result.module.flows) == 1
        assert format_text(text, name) == text
    mean_lines = statistics.mean(text.count("\n") for _, text in corpus)
    assert 20 <= mean_lines <= 34
