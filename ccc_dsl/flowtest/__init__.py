"""Flow tests: YAML files of simulated calls with expected outcomes, run on the runtime's
interpreter with a fake clock (`ccc test`), with edge coverage per flow and JUnit XML for CI.

`model` reads test files into located diagnostics (codes T7xx), `runner` compiles the repo and
runs the calls in one event loop, `coverage` measures nodes and exits exercised; the JUnit XML
and the text and JSON reports are views (ccc_dsl/views/junit.py, testreport.py). Format:
docs/testing.md.
"""
