"""A610/A611: inline speech that text-to-speech can't render: empty, or too long for a prompt.

Checked on the template as written; `{{ ... }}` placeholders count as text, since what they
render to is only known during the call."""

from __future__ import annotations

from typing import Final

from ccc_dsl.codes import diagnostic
from ccc_dsl.compiler.ir import FlowIR
from ccc_dsl.compiler.program import Program
from ccc_dsl.diagnostics import Diagnostic

TTS_MAX_CHARS: Final = 500
"""About a minute of speech; longer texts belong in a recorded prompt."""


def tts_text(ir: FlowIR, program: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for attrs in ir.nodes.values():
        for template, span in attrs.tts:
            if not template.strip():
                out.append(diagnostic("A610", "this text is empty: there is nothing to speak", span,
                                      "write the text, or remove the `say`"))
            elif len(template) > TTS_MAX_CHARS:
                out.append(diagnostic("A611", f"this text has {len(template)} characters; speech "
                                      f"is limited to {TTS_MAX_CHARS}", span,
                                      "split it, or record it as a prompt file"))
    return out
