"""The glue between Lark's LALR loop and the AST builder's actions, compiled per rule.

Lark wraps each rule's action in generic objects: a child filter that drops anonymous tokens,
inserts None for an absent `[optional]` and splices the items of `x*` helper rules, and an
ExpandSingleChild for `?rule`s. They loop over a per-rule table on every reduction, about 160
times per flow. `compile_callbacks` replaces each wrapper by one function generated from the
same table (`[c[0], c[2], None, *c[3]]`), makes the `?rule`s of a single child an `itemgetter`,
and lets the helper rules of `x*` build plain lists instead of trees that are thrown away. The
children every action receives are the same as before; only the way there is shorter.

`identity_rules` makes the rules of the parse table compare and hash by identity, in C: Lark's
loop asserts `arg != end_state` and looks up `callbacks[rule]` on every reduction, and `Rule`'s
own `__eq__` and `__hash__` are Python methods (two calls per reduction, ~3 % of a parse).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import itemgetter
from types import FunctionType, MethodType
from typing import Any

from lark import Tree
from lark.grammar import Rule
from lark.parse_tree_builder import (
    ChildFilterLALR,
    ChildFilterLALR_NoPlaceholders,
    ExpandSingleChild,
)
from lark.parsers.lalr_analysis import Reduce

_Include = list[tuple[int, bool, int]]
"""Lark's table of a child filter: per kept child its index, whether it is a helper rule whose
items are spliced in, and how many Nones come before it."""


def unwrap(action: Any) -> tuple[_Include | None, int, bool, Any] | None:
    """Lark's wrappers of one rule's action taken apart: the filter's table (None: no filter),
    the Nones it appends, whether a single child stands for the rule, and the action (None for
    the default tree). None when a wrapper is not one this module knows."""
    include: _Include | None = None
    append = 0
    if type(action) is ChildFilterLALR:
        include, append = list(action.to_include), action.append_none
        action = action.node_builder
    elif type(action) is ChildFilterLALR_NoPlaceholders:
        include = [(i, expand, 0) for i, expand in action.to_include]
        action = action.node_builder
    expand1 = type(action) is ExpandSingleChild
    if expand1:
        action = action.node_builder
    if type(action) is partial and action.func is Tree and len(action.args) == 1:
        return include, append, expand1, None
    if not isinstance(action, MethodType | FunctionType) and not (
            type(action) is partial and isinstance(action.func, MethodType)):
        return None  # e.g. Lark's position propagation, which this module does not do
    return include, append, expand1, action


def callback_code(rule: Rule, include: _Include | None, append: int, expand1: bool,
                  action: Any) -> tuple[str, Any]:
    """How one rule's callback turns `children` (the values of the rule's symbols) into its
    value, as a kind and its argument: ("action", None) the action itself; ("list", None) a
    fresh list of them; ("none", None) always None; ("item", i) child i; ("def", source) a
    function `callback(c)` whose body reads `_action`, `_tree` and `_name`. The regenerated
    tables (regen.py) write the same code out that `_compile` runs here."""
    helper = rule.origin.name.startswith("_")
    if include is None:  # no child is dropped, padded or spliced
        include = [(i, False, 0) for i in range(len(rule.expansion))]
    items: list[str] = []
    spliced = False
    for index, expand, nones in include:
        items += ["None"] * nones
        items.append(f"*c[{index}]" if expand else f"c[{index}]")
        spliced = spliced or expand
    items += ["None"] * append
    if expand1 and not spliced:  # a `?rule`: its one child stands for it, or it has several
        if len(items) == 1:
            return ("none", None) if items[0] == "None" else ("item", include[0][0])
        expand1 = False
    if not spliced and items == [f"c[{i}]" for i in range(len(rule.expansion))]:
        if action is not None:
            return ("action", None)  # nothing to filter: as Lark has it
        if helper:
            return ("list", None)  # the children as they are, a fresh list
    if spliced and items[0].startswith("*") and len(items) > 1:
        # Left recursion (`__x_star: __x_star item`): extend the first child's list in place.
        rest = items[1:]
        body = (f"    f = c[{include[0][0]}]\n"
                + (f"    f.append({rest[0]})\n" if len(rest) == 1 and not rest[0].startswith("*")
                   else f"    f += [{', '.join(rest)}]\n"))
    elif spliced and items[0].startswith("*"):
        body = f"    f = c[{include[0][0]}]\n"
    else:
        body = f"    f = [{', '.join(items)}]\n"
    # A helper's items stay a list, for its parent to splice.
    result = "_action(f)" if action is not None else "f" if helper else "_tree(_name, f)"
    if expand1:
        result = f"f[0] if len(f) == 1 else {result}"
    return ("def", f"def callback(c):\n{body}    return {result}\n")


def _compile(rule: Rule, include: _Include | None, append: int, expand1: bool,
             action: Any) -> Callable[[list[Any]], Any]:
    """One rule's callback: `children` (the values of the rule's symbols) to its value."""
    kind, arg = callback_code(rule, include, append, expand1, action)
    if kind == "action":
        same: Callable[[list[Any]], Any] = action
        return same
    if kind == "list":
        return list
    if kind == "none":
        return _constant_none
    if kind == "item":
        return itemgetter(arg)
    namespace: dict[str, Any] = {"_action": action, "_tree": Tree, "_name": rule.origin.name}
    exec(arg, namespace)  # one small function per rule, from Lark's own table
    callback: Callable[[list[Any]], Any] = namespace["callback"]
    return callback


def _constant_none(children: list[Any]) -> None:
    """The value of a `?rule` whose one child is an absent `[optional]`."""
    return None


def compile_callbacks(callbacks: dict[Any, Any]) -> bool:
    """Replace every rule's callback in a Lark LALR parser's table (in place) by its compiled
    equivalent; False, and nothing changed, when a wrapper is not one this module knows (the
    parse is then as fast as Lark makes it, and as right)."""
    plans: dict[Rule, tuple[_Include | None, int, bool, Any]] = {}
    for rule, action in callbacks.items():
        if not isinstance(rule, Rule):
            return False  # a terminal's callback: none in this language
        plan = unwrap(action)
        if plan is None:
            return False
        if rule.origin.name.startswith("_") and (plan[3] is not None or plan[2]):
            return False  # a helper rule with an action of its own: its tree would be spliced
        plans[rule] = plan
    for rule, (include, append, expand1, action) in plans.items():
        callbacks[rule] = _compile(rule, include, append, expand1, action)
    return True


class _IdentityRule(Rule):
    """A `Rule` that is equal only to itself, compared and hashed by the interpreter's own slots:
    in one parser's table every rule is one object, so identity is what equality means there."""

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


def identity_rules(parser: Any) -> bool:
    """Make the rules of a Lark LALR `_Parser` (its `parse_table` and `callbacks`) `_IdentityRule`s,
    in place; False, and nothing changed, unless every rule the table reduces by is the very
    object its callback is keyed by (then identity is equality)."""
    callbacks: dict[Any, Any] = parser.callbacks
    keys = {id(rule) for rule in callbacks if type(rule) is Rule}
    for actions in parser.parse_table.states.values():
        for action, arg in actions.values():
            if action is Reduce and id(arg) not in keys:
                return False
    entries = list(callbacks.items())
    for rule, _ in entries:
        if type(rule) is Rule:
            rule.__class__ = _IdentityRule  # same slots: the object stays what it was
    callbacks.clear()  # their hashes changed: key them again
    callbacks.update(entries)
    return True
