"""Every renderer of the tool, apart from the core that produces what they show.

Each module turns one kind of result into text for people and JSON (or another machine format)
for tools: `diagnostics` (text, JSON, GitHub annotations, SARIF), `graph` (Mermaid, DOT, SVG),
`compile` (the compile summary), `testreport` (`ccc test`), `junit` (JUnit XML), `simulation`
(`ccc simulate`), `plan_*` (`ccc plan`: text, Markdown, JSON); `terminal` decides on colour.
The CLI parses options, calls the core, hands the result to a view and exits.
"""
