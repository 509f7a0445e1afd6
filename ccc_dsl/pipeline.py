"""The front half of the pipeline, shared by `validate`, `compile`, `graph` and `test`:
load the manifests, parse every flow, and (once the compiler exists) analyse the flows against
the model. Every stage adds diagnostics; none raises on bad input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ccc_dsl.compiler.driver import Analysis, analyse, paused_gc
from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.parser import parse_file
from ccc_dsl.manifest.loader import load_repo
from ccc_dsl.manifest.model import Model


@dataclass
class RepoCheck:
    """What the front half knows about a config repo."""

    model: Model | None
    modules: list[ast.Module] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    analysis: Analysis | None = None
    """Name resolution and flow analyses (the compiler's front half); its IRs feed emission."""


def check_repo(root: Path, env: str | None) -> RepoCheck:
    loaded = load_repo(root, env)
    check = RepoCheck(model=loaded.model, diagnostics=list(loaded.diagnostics))
    unparsed = 0
    with paused_gc():  # ASTs are many small objects without cycles: don't rescan them
        for flow_file in loaded.flow_files:
            parsed = parse_file(flow_file)
            check.diagnostics.extend(parsed.diagnostics)
            if parsed.module is not None:
                check.modules.append(parsed.module)
            else:
                unparsed += 1
    if unparsed:
        # The flows of a file with syntax errors are unknown: analysing the rest would report
        # every call to them as a call to a missing flow. Syntax first, as compilers do.
        return check
    root_dir = Path(loaded.model.root) if loaded.model is not None else None
    check.analysis = analyse(check.modules, check.model, root_dir)
    check.diagnostics.extend(check.analysis.diagnostics)
    return check
