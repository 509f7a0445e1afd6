"""`ast.node` declares a class exactly as `@dataclass(frozen=True, slots=True)` would, at a third
of the import cost: the same methods' results, metadata, pickling and messages."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.ast import node
from ccc_dsl.grammar.transformer import fast_constructor


@dataclass(frozen=True, slots=True)
class Plain(ast.Node):
    name: str
    items: tuple[int, ...]
    extra: str | None = None
    span: Span = field(compare=False, default=Span.point("f", 1, 1))


@node
class Fast(ast.Node):
    name: str
    items: tuple[int, ...]
    extra: str | None = None
    span: Span = field(compare=False, default=Span.point("f", 1, 1))


@dataclass(frozen=True, slots=True)
class PlainOne(ast.Node):
    """Documented."""

    value: float
    span: Span = field(compare=False)


@node
class FastOne(ast.Node):
    """Documented."""

    value: float
    span: Span = field(compare=False)


def _same(plain: object, fast: object) -> None:
    assert repr(fast) == repr(plain).replace(type(plain).__qualname__,
                                             type(fast).__qualname__, 1)
    assert hash(fast) == hash(plain)
    assert (pickle.loads(pickle.dumps(fast)) == fast) is (  # False for a NaN: a new float
        pickle.loads(pickle.dumps(plain)) == plain)
    assert repr(pickle.loads(pickle.dumps(fast))) == repr(fast)
    assert plain.__getstate__() == fast.__getstate__()  # type: ignore[attr-defined]


def test_methods_give_what_the_dataclass_gives() -> None:
    where, other = Span("f", 1, 2, 3, 4), Span("g", 5, 6, 7, 8)
    _same(Plain("a", (1, 2), None, where), Fast("a", (1, 2), None, where))
    _same(Plain("a", (1,)), Fast("a", (1,)))
    nan = float("nan")
    _same(PlainOne(nan, where), FastOne(nan, where))
    fast = Fast("a", (1, 2), "x", where)
    assert fast == Fast("a", (1, 2), "x", other)  # spans are not compared
    assert fast != Fast("a", (1, 2), "y", where)
    assert fast.__eq__(Plain("a", (1, 2), "x", where)) is NotImplemented
    one = FastOne(nan, where)
    assert one == one and (PlainOne(nan, where) == PlainOne(nan, where)) == (
        one == FastOne(nan, where))  # the tuples compare: identity first, as dataclasses do
    assert Fast(name="b", items=()) == Fast("b", ())


def test_frozen_with_the_dataclass_messages() -> None:
    plain, fast = Plain("a", ()), Fast("a", ())
    for name in ("name", "span"):  # (another name: the dataclass fails with a TypeError)
        with pytest.raises(dataclasses.FrozenInstanceError) as want:
            setattr(plain, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError) as got:
            setattr(fast, name, 1)
        assert str(got.value) == str(want.value)
        with pytest.raises(dataclasses.FrozenInstanceError) as want:
            delattr(plain, name)
        with pytest.raises(dataclasses.FrozenInstanceError) as got:
            delattr(fast, name)
        assert str(got.value) == str(want.value)


def test_metadata_replace_and_the_parsers_constructor() -> None:
    assert Fast.__match_args__ == Plain.__match_args__
    assert Fast.__slots__ == Plain.__slots__  # type: ignore[attr-defined]
    assert str(inspect.signature(Fast)) == str(inspect.signature(Plain))
    assert Fast.__doc__ == Plain.__doc__.replace("Plain", "Fast")  # type: ignore[union-attr]
    assert FastOne.__doc__ == "Documented."
    assert repr(Fast.__dataclass_params__) == repr(Plain.__dataclass_params__)  # type: ignore[attr-defined]
    assert [(f.name, f.compare, f.default) for f in dataclasses.fields(Fast)] == [
        (f.name, f.compare, f.default) for f in dataclasses.fields(Plain)]
    fast = Fast("a", (1,), "x")
    changed = dataclasses.replace(fast, extra="y")
    assert type(changed) is Fast and changed.extra == "y" and fast.extra == "x"
    built = fast_constructor(Fast)("a", (1,), "x", Span.point("f", 1, 1))
    assert type(built) is Fast and built == fast
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "b"  # type: ignore[misc]


def test_default_factories_are_refused() -> None:
    with pytest.raises(TypeError, match="plain fields"):
        @node
        class Bad(ast.Node):
            items: list[int] = field(default_factory=list)
