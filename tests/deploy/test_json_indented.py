"""util.json_indented writes bundle.json and build.json (hashed into the bundle digest a plan
compares): its text must be json.dumps(indent=2, sort_keys=True, ensure_ascii=False)'s, for
every value, including the ones it hands back to the json module."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccc_dsl.util import json_indented


def _dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
            | st.text(max_size=12))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_same_text_as_json_dumps(doc: Any) -> None:
    assert json_indented(doc) == _dumps(doc)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize("doc", [
    {"b": [], "a": {}, "c": [{}], "\u4e2d\u6587": "\u7535\u8bdd\n\"quoted\"\t\x01"},
    {"x": [math.inf, -math.inf, 1e300, -0.0, 0.1]},
    {"colour": Colour.RED, "level": Level.HIGH, Colour.RED: 1},  # str key subclass: json's
    {2: "int keys", 1: "sorted as ints"},
    {2.5: 1, 0: 2}, {None: 1}, {False: 0},
    OrderedDict([("b", 1), ("a", OrderedDict([("d", 2), ("c", 3)]))]),
    [1, (2, [3, ()]), {"k": (4,)}],
    "top-level string", 7, None, [],
])
def test_unusual_values_as_json(doc: Any) -> None:
    assert json_indented(doc) == _dumps(doc)


def test_errors_are_json_errors() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_indented({"a": {1, 2}})
    with pytest.raises(TypeError):
        json_indented({"a": 1, 2: 3})  # mixed keys can't be sorted: json says so too
    with pytest.raises(TypeError):
        json_indented({"a": [{"b": 1, "1": 2, 1: 3}]})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        json_indented({"loop": loop})


def test_plain_documents_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"agents": {f"a{i}": {"name": f"Agent {i}", "skills": ["sales", i], "on": i % 2 == 0,
                                "rate": i / 7, "team": None} for i in range(50)},
           "flows": {"main": "main.ccb"}, "empty": {"list": [], "map": {}}}
    expected = _dumps(doc)

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json.dumps was called")

    monkeypatch.setattr(json, "dumps", refuse)
    assert json_indented(doc) == expected
