"""The parser's fast constructors build the same frozen objects as the dataclasses' own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast, transformer
from ccc_dsl.grammar.transformer import fast_constructor, new_span


def test_span_and_every_node_constructor_match_the_dataclass() -> None:
    span = new_span("f.ivr", 1, 2, 3, 4)
    assert span == Span("f.ivr", 1, 2, 3, 4) and hash(span) == hash(Span("f.ivr", 1, 2, 3, 4))
    built = [n[4:] for n in vars(transformer) if n.startswith("new_") and n[4].isupper()]
    assert len(built) > 30
    for name in built:
        cls = getattr(ast, name)
        values = [f"v{i}" for i, _ in enumerate(dataclasses.fields(cls))]
        fast = getattr(transformer, "new_" + name)(*values)
        assert type(fast) is cls
        assert dataclasses.astuple(fast) == dataclasses.astuple(cls(*values))
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.span = span


def test_defaults_are_honoured() -> None:
    @dataclass(frozen=True, slots=True)
    class Node:
        a: int
        span: Span = field(compare=False)
        extra: str = "x"

    make = fast_constructor(Node)
    assert make(1, new_span("f", 1, 1, 1, 1)).extra == "x"
    assert make(1, new_span("f", 1, 1, 1, 1), "y") == Node(1, Span("f", 1, 1, 1, 1), "y")
