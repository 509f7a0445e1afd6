"""JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters): one <testsuite> per test
file, one <testcase> per test; a failed expectation is a <failure>, a test file that could not
be run (bad YAML, unknown flow) is an <error>."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from ccc_dsl.diagnostics import Diagnostic
from ccc_dsl.flowtest.runner import CaseResult, RunReport


def junit_xml(report: RunReport) -> bytes:
    """The report as a JUnit XML document (UTF-8, with declaration)."""
    by_file: dict[str, list[CaseResult]] = defaultdict(list)
    for result in report.results:
        by_file[result.case.file.display].append(result)
    broken: dict[str, list[Diagnostic]] = defaultdict(list)
    for diag in report.diagnostics:
        if diag.is_error:
            broken[diag.span.file if diag.span else "ccc"].append(diag)
    root = ET.Element("testsuites", name="ccc flow tests")
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for name in sorted(set(by_file) | set(broken)):
        results = by_file.get(name, [])
        errors = broken.get(name, [])
        failures = sum(not r.passed for r in results)
        suite = ET.SubElement(root, "testsuite", {
            "name": name, "tests": str(len(results) + len(errors)),
            "failures": str(failures), "errors": str(len(errors)), "skipped": "0",
            "time": f"{sum(r.seconds for r in results):.6f}", "timestamp": stamp})
        for result in results:
            case = ET.SubElement(suite, "testcase", {
                "classname": _classname(name), "name": result.case.name, "file": name,
                "line": str(result.case.span.line), "time": f"{result.seconds:.6f}"})
            if not result.passed:
                failure = ET.SubElement(case, "failure", {
                    "message": result.mismatches[0].describe(), "type": "FlowTestFailure"})
                failure.text = "\n".join(m.describe() for m in result.mismatches) + \
                    "\n\ncall:\n" + "\n".join(result.log)
        for diag in errors:
            case = ET.SubElement(suite, "testcase", {
                "classname": _classname(name), "name": f"{diag.code} {diag.message}"[:200],
                "file": name, "line": str(diag.span.line if diag.span else 0), "time": "0"})
            problem = ET.SubElement(case, "error", {"message": diag.message, "type": diag.code})
            problem.text = f"{diag.span}: {diag.message}" + (f"\nhint: {diag.hint}"
                                                              if diag.hint else "")
        totals["tests"] += len(results) + len(errors)
        totals["failures"] += failures
        totals["errors"] += len(errors)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{report.seconds:.6f}")
    for element in root.iter():  # names and messages come from user files: keep XML valid
        element.text = element.text and _NOT_XML.sub("\ufffd", element.text)
        for attr, value in element.attrib.items():
            element.set(attr, _NOT_XML.sub("\ufffd", value))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 can't hold, even escaped (control characters, lone surrogates)."""


def write_junit(report: RunReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(report))


def _classname(file: str) -> str:
    """`examples/tests/main.yaml` -> `examples.tests.main` (how CI UIs group test cases)."""
    return Path(file).with_suffix("").as_posix().strip("./").replace("/", ".")
