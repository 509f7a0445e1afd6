"""The compiler proper: resolve names, lower every flow to its graph IR and run the analyses
(`analyse`), then optimize and emit one .ccb image per flow (`emit_all`) with the build manifest
(`Build.manifest`, written as build.json). pipeline.py drives it; this module reads no repo.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ccc_runtime.bytecode import image_hash

from ccc_dsl.compiler.emit import emit
from ccc_dsl.compiler.ir import FlowIR, lower_flow
from ccc_dsl.compiler.passes import analyse as run_analyses
from ccc_dsl.compiler.passes import optimize
from ccc_dsl.compiler.program import Program
from ccc_dsl.compiler.resolve import resolve_names
from ccc_dsl.compiler.results import COMPILER_VERSION, Analysis, CompiledFlow
from ccc_dsl.compiler.timing import flow_timing
from ccc_dsl.grammar import ast
from ccc_dsl.manifest.model import Model
from ccc_dsl.util import paused_gc


def _relative(file: str, root: Path | None) -> str:
    if root is None:
        return Path(file).as_posix()
    try:
        return Path(os.path.relpath(file, root)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(file).as_posix()


def _routing(model: Model | None) -> dict[str, str]:
    if model is None:
        return {}
    return {name: "familiar" if group.routing == "familiar_agent" else "longest-idle"
            for name, group in model.skill_groups.items()}


def analyse(modules: list[ast.Module], model: Model | None,
            root: Path | None = None) -> Analysis:
    """Resolve names and run every analysis on every flow of `modules`."""
    with paused_gc():
        return _analyse(modules, model, root)


def _analyse(modules: list[ast.Module], model: Model | None, root: Path | None) -> Analysis:
    routing = _routing(model)
    flows: dict[str, FlowIR] = {}
    sources: dict[str, str] = {}
    for module in modules:
        for flow in module.flows:
            if flow.name not in flows:
                flows[flow.name] = lower_flow(flow, module.file, routing)
                sources[flow.name] = _relative(module.file, root)
    program = Program(flows, model, root)
    diagnostics = resolve_names(modules, model)
    for name in flows:
        diagnostics += run_analyses(flows[name], program)
    return Analysis(program, diagnostics, sources)


def emit_all(analysis: Analysis, texts: dict[str, bytes] | None = None) -> dict[str, CompiledFlow]:
    """Optimize and emit every flow. `texts` maps source files to their bytes (read from disk
    when missing); their sha256 is the image's source hash."""
    with paused_gc():
        return _emit_all(analysis, texts or {})


def _emit_all(analysis: Analysis, texts: dict[str, bytes]) -> dict[str, CompiledFlow]:
    program = analysis.program
    out: dict[str, CompiledFlow] = {}
    hashes: dict[str, str] = {}
    for name in sorted(program.flows):
        ir = program.flows[name]
        source = analysis.sources[name]
        if ir.file not in hashes:
            data = texts.get(ir.file)
            if data is None:
                data = Path(ir.file).read_bytes()
            hashes[ir.file] = hashlib.sha256(data).hexdigest()
        image = emit(optimize(ir), hashes[ir.file], COMPILER_VERSION, source)
        out[name] = CompiledFlow(name, source, image, image_hash(image), hashes[ir.file],
                                 flow_timing(program, name))
    return out
