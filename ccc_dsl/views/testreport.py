"""`ccc test` output: pytest-like text for people (a dot or F per test, a block per failure,
a coverage table, a summary line) and one JSON document for machines."""

from __future__ import annotations

import json
from typing import Any

from ccc_dsl.diagnostics import sorted_diagnostics
from ccc_dsl.flowtest.coverage import FlowCoverage
from ccc_dsl.flowtest.runner import CaseResult, RunReport
from ccc_dsl.views import diagnostics as diagnostics_view
from ccc_dsl.views.terminal import visible

WIDTH = 78


def summary_line(report: RunReport) -> str:
    """`N passed, N failed in X.XXs` (plus deselected tests and input errors, when any)."""
    parts = [f"{report.passed} passed", f"{report.failed} failed"]
    if report.deselected:
        parts.append(f"{report.deselected} deselected")
    if report.unchanged:
        parts.append(f"{report.unchanged} unchanged (not run)")
    errors = sum(d.is_error for d in sorted_diagnostics(report.diagnostics))
    if errors:
        parts.append(f"{errors} error(s)")
    return ", ".join(parts) + f" in {report.seconds:.2f}s"


def render_text(report: RunReport, min_coverage: float | None = None, color: bool = False) -> str:
    """The whole run for people: input errors, a line per file, failures, coverage, summary."""
    lines: list[str] = []
    if report.diagnostics:
        lines.append(diagnostics_view.render_text(sorted_diagnostics(report.diagnostics), color))
    by_file: dict[str, list[CaseResult]] = {}
    for result in report.results:
        by_file.setdefault(result.case.file.display, []).append(result)
    for name, results in by_file.items():
        lines.append(visible(f"{name} ") + "".join("." if r.passed else "F" for r in results))
    failed = [r for r in report.results if not r.passed]
    if failed:
        lines.append("")
        lines.append(" FAILURES ".center(WIDTH, "="))
        for result in failed:
            lines += [visible(line) for line in _failure(result)]
    if report.coverage and (report.results or report.unchanged):
        lines.append("")
        lines += coverage_table(report.coverage)
    for flow in report.below(min_coverage):
        lines.append(f"FAIL: flow {flow.flow}: edge coverage {flow.edge_percent:.1f}% is "
                     f"below --min-coverage {min_coverage:g}%")
    lines.append(summary_line(report))
    return "\n".join(lines)


def _failure(result: CaseResult) -> list[str]:
    case = result.case
    out = [f" {case.id} ".center(WIDTH, "_"), f"{case.span}: test `{case.name}` "
           f"(flow {case.flow}, caller {case.setup.caller})"]
    out += [f"  {m.describe()}" for m in result.mismatches]
    out.append("  call:")
    out += [f"    {line}" for line in result.log]
    out += [f"    fault: {f}" for f in result.result.faults]
    return out


def coverage_table(coverage: list[FlowCoverage]) -> list[str]:
    """One row per flow, then its uncovered nodes and exits with their DSL location."""
    name_width = max(12, *(len(c.flow) for c in coverage))
    out = [" coverage ".center(WIDTH, "-"),
           f"{'flow':<{name_width}}  {'nodes':>14}  {'edges':>14}  source"]
    for c in coverage:
        out.append(f"{c.flow:<{name_width}}  {c.nodes_hit:>4}/{c.nodes_total:<4}"
                   f"{c.node_percent:5.1f}%  {c.edges_hit:>4}/{c.edges_total:<4}"
                   f"{c.edge_percent:5.1f}%  {c.source}")
        if c.nodes_hit == 0 and c.nodes_total:
            out.append("    no test calls this flow")
        else:
            out += [f"    not covered: {u.describe()}" for u in c.uncovered]
    total_e = sum(c.edges_total for c in coverage)
    hit_e = sum(c.edges_hit for c in coverage)
    total_n = sum(c.nodes_total for c in coverage)
    hit_n = sum(c.nodes_hit for c in coverage)
    out.append(f"{'TOTAL':<{name_width}}  {hit_n:>4}/{total_n:<4}"
               f"{_pct(hit_n, total_n):5.1f}%  {hit_e:>4}/{total_e:<4}{_pct(hit_e, total_e):5.1f}%")
    return out


def _pct(hit: int, total: int) -> float:
    return 100.0 if total == 0 else 100.0 * hit / total


def render_json(report: RunReport, min_coverage: float | None = None) -> str:
    """The whole run as one JSON document (tests, coverage, diagnostics) for tools."""
    doc: dict[str, Any] = {
        "ok": report.ok(min_coverage),
        "passed": report.passed,
        "failed": report.failed,
        "deselected": report.deselected,
        "unchanged": report.unchanged,
        "seconds": round(report.seconds, 4),
        "tests": [{
            "id": r.case.id, "file": r.case.file.display, "line": r.case.span.line,
            "name": r.case.name, "flow": r.case.flow, "passed": r.passed,
            "outcome": r.result.outcome.describe(),
            "failures": [{"what": m.what, "expected": m.expected, "actual": m.actual}
                         for m in r.mismatches],
            "seconds": round(r.seconds, 6),
        } for r in report.results],
        "coverage": [c.as_json() for c in report.coverage],
        "below_min_coverage": [c.flow for c in report.below(min_coverage)],
        "diagnostics": [diagnostics_view.diagnostic_to_dict(d)
                        for d in sorted_diagnostics(report.diagnostics)],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)
