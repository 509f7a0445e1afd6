"""A614: a call data field the runtime doesn't provide (`caller.name`): always null. A625: a
SIP header field no INVITE can fill (`call.headers.contact`: only X- headers and a few others
reach flows, ccc_runtime.calldata).

The roots `caller`, `called`, `call`, `time`, `queue`, `menu` and `survey` are the runtime's;
only the fields it sets exist (a flow can't set them either: they are read-only). Checked on
expressions; `say` templates are checked by root only."""

from __future__ import annotations

from ccc_runtime.calldata import PASSED_HEADERS, field_passes

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import CALL_DATA, CALL_DATA_ROOTS, FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.util import did_you_mean


def unknown_call_data(ir: FlowIR, program: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for attrs in ir.nodes.values():
        for path, span in attrs.reads:
            root, dot, _ = path.partition(".")
            if path.startswith("call.headers."):
                header = path.split(".")[2]
                if not field_passes(header):
                    out.append(diagnostic(
                        "A625", f"`{path}` is never filled: only X- headers and "
                        f"{', '.join(sorted(PASSED_HEADERS))} reach a flow", span,
                        "a header `X-Foo-Bar` is `call.headers.x_foo_bar`"))
                continue
            if dot and root in CALL_DATA_ROOTS and path not in CALL_DATA:
                fields = {f for f in CALL_DATA if f.startswith(root + ".")}
                out.append(diagnostic(
                    "A614", f"`{path}` is not call data the runtime provides: it is always null",
                    span,
                    did_you_mean(path, set(CALL_DATA)) or "known: " + ", ".join(sorted(fields))))
    return out
