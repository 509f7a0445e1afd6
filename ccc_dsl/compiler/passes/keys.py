"""A606, A621-A623: keys that shadow or clash with each other, so one can never be taken or
which one a caller reaches would be a guess.

In a queue, an offer's key (`offer callback ... key 1`) and the queue's own key exits
(`1 -> ...`) share the keypad: the same key can't mean both, and two offers can't share one.

In a menu, keys may be patterns (`1XX`, `N`, `[1-5]`, see patterns.parse_key), each of a fixed
number of presses. Keys of different lengths never clash: the interdigit timeout tells `1`
from `1XX`. Two keys of one length clash when some input matches both; that is allowed only
when one is strictly more specific (every input of it is an input of the other, which has
more): the more specific key wins, as in Asterisk. Otherwise it is A621, and two keys with the
same inputs are A622. A key whose every input a more specific key takes is A623."""

from __future__ import annotations

from ccc_runtime.bytecode import Op
from ccc_runtime.patterns import KeyPattern, key_error, more_specific, parse_key

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR, IRNode
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic, Span

COVER_BUDGET = 2_000
"""Box splits one A623 check may make: past it the key is given the benefit of the doubt
(bounded work for any menu; real menus need a handful)."""


def shadowed_keys(ir: FlowIR, program: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for n, node in ir.nodes.items():
        if node.op is Op.QUEUE:
            out += _queue_keys(node)
        elif node.op is Op.MENU:
            out += _menu_keys(node, {e.exit: e.span for e in ir.edges[n]})
    return out


def _queue_keys(node: IRNode) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    offers, keys = node.operand("offers"), node.operand("keys")
    assert isinstance(offers, list) and isinstance(keys, list)
    seen: dict[str, str] = {str(k): f"the exit `{k}`" for k in keys}
    for offer in offers:
        assert isinstance(offer, list)
        kind, key = offer[0], str(offer[2])  # [kind, after_ms, key, prompt]
        owner = seen.get(key)
        if owner is not None:
            out.append(diagnostic("A606", f"key `{key}` of the {kind} offer is also {owner} "
                                  "of this queue: one shadows the other", node.span,
                                  "give the offer a key of its own"))
        seen.setdefault(key, f"the key of the {kind} offer")
    return out


def _menu_keys(node: IRNode, spans: dict[str, Span]) -> list[Diagnostic]:
    """The clashes of a menu's keys, each at the later key's exit."""
    keys = node.operand("keys")
    assert isinstance(keys, list)
    # literal keys can't clash (the parser refuses a key written twice): skip the common menu
    if all((isinstance(k, str) and k.isdigit()) or k in ("*", "#") for k in keys):
        return []
    parsed = [(str(k), parse_key(str(k))) for k in keys if key_error(str(k)) is None]
    out: list[Diagnostic] = []
    for i, (a, pa) in enumerate(parsed):
        for b, pb in parsed[i + 1:]:
            if len(pa) != len(pb) or not _overlap(pa, pb):
                continue
            if pa == pb:
                out.append(diagnostic("A622", f"keys `{a}` and `{b}` match the same inputs",
                                      spans.get(b, node.span), f"keep one of `{a}` and `{b}`"))
            elif not (more_specific(pa, pb) or more_specific(pb, pa)):
                out.append(diagnostic(
                    "A621", f"keys `{a}` and `{b}` both match {_example(pa, pb)} and neither is "
                    "more specific", spans.get(b, node.span),
                    "make one a subset of the other, or keep them apart"))
    for a, pa in parsed:
        inner = [pb for _, pb in parsed if more_specific(pb, pa)]
        if inner and _covered(pa, inner, [COVER_BUDGET]):
            out.append(diagnostic("A623", f"key `{a}` is never taken: more specific keys take "
                                  "every input it matches", spans.get(a, node.span),
                                  f"remove `{a}`, or widen it"))
    return out


def _overlap(a: KeyPattern, b: KeyPattern) -> bool:
    return all(sa & sb for sa, sb in zip(a, b, strict=True))


def _example(a: KeyPattern, b: KeyPattern) -> str:
    """One input both keys match (they overlap), for the message."""
    return "".join(min(sa & sb) for sa, sb in zip(a, b, strict=True))


def _covered(box: KeyPattern, inner: list[KeyPattern], budget: list[int]) -> bool:
    """Whether the keys `inner` together match every input of `box`: split `box` where a key
    cuts it, until each part is inside one key or outside all. False when out of budget."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    touching = [k for k in inner if _overlap(k, box)]
    if not touching:
        return False
    for key in touching:
        if all(sb <= sk for sb, sk in zip(box, key, strict=True)):
            return True
    key = touching[0]  # it doesn't hold the box: cut the box at a place where it sticks out
    pos = next(p for p, (sb, sk) in enumerate(zip(box, key, strict=True)) if not sb <= sk)
    inside = (*box[:pos], box[pos] & key[pos], *box[pos + 1:])
    outside = (*box[:pos], box[pos] - key[pos], *box[pos + 1:])
    return _covered(inside, touching, budget) and _covered(outside, touching, budget)
