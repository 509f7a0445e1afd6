"""A615: a flow reads a field of a function's result that the function doesn't declare in its
manifest `returns:` list (`result.balanse`): a typo that would read null at call time. A626: a
field of the result of a `reply: text` function, which is one string and has no fields.

Checked only where the answer is certain: the result variable is written by function calls
alone in this flow, and every one of those functions declares `returns:`. Checked on
expressions; `say` templates are checked by root only (as A614 does)."""

from __future__ import annotations

from ccc_runtime.bytecode import Op

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.util import did_you_mean


def undeclared_result_fields(ir: FlowIR, program: Program) -> list[Diagnostic]:
    model = program.model
    if model is None:
        return []
    nodes = ir.nodes
    calls = [attrs for attrs in nodes.values() if attrs.op is Op.CALL_FUNCTION]
    if not calls:
        return []
    declared: dict[str, dict[str, str]] = {}  # result root -> field -> the function declaring it
    texts: dict[str, str] = {}  # result root -> the text function writing it
    unknown: set[str] = set()  # roots written by something whose fields we don't know
    for attrs in calls:
        name, result_var = attrs.operand("function"), attrs.operand("result_var")
        root, _, rest = str(result_var).partition(".")
        function = model.functions.get(str(name))
        if function is not None and function.reply == "text" and not rest:
            texts.setdefault(root, function.name)
            continue
        if function is None or not function.returns or rest:
            unknown.add(root)
            continue
        fields = declared.setdefault(root, {})
        for field in function.returns:
            fields.setdefault(field, function.name)
    unknown |= declared.keys() & texts.keys()  # text from one call, JSON from another
    if not (declared.keys() | texts.keys()) - unknown:
        return []
    successors = ir.successors()
    for node, attrs in nodes.items():
        unknown.update(attrs.writes)
        if attrs.op is not Op.CALL_FUNCTION:
            for edge in successors[node]:
                unknown.update(edge.writes)
    out: list[Diagnostic] = []
    for attrs in nodes.values():
        for path, span in attrs.reads:
            root, dot, rest = path.partition(".")
            if dot and root in texts and root not in unknown:
                out.append(diagnostic(
                    "A626", f"`{path}`: `{texts[root]}` replies with text (`reply: text`), "
                    "which has no fields, so this reads null", span,
                    f"the text itself is `{root}`"))
                continue
            known = declared.get(root)
            if not dot or known is None or root in unknown:
                continue
            field = rest.partition(".")[0]
            if field not in known:
                functions = ", ".join(f"`{f}`" for f in sorted(set(known.values())))
                out.append(diagnostic(
                    "A615", f"`{path}`: {functions} returns no field `{field}` (its manifest "
                    "`returns:` lists the fields), so this reads null",
                    span, did_you_mean(field, set(known)) or
                    "declared: " + ", ".join(sorted(known))))
    return out
