"""Every diagnostic code the tool emits, with its stage, severity, title and docs anchor.

The one place that knows what a code means: the parser asks for a code's stage (is it a syntax
error?), the passes take their severity from here, and the views and SARIF rules print titles
and documentation links from it, so no code branches on how a code is spelt.
tests/test_codes.py holds the registry to the source (every code emitted is registered, with
the severity it is emitted at) and to the docs tables (every row has an entry, and back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from ccc_dsl.diagnostics import Diagnostic, Severity, Span


class Stage(StrEnum):
    """Which part of the tool finds the problem."""

    YAML = "yaml"  # Y1xx: a manifest or test file is not safe, readable YAML
    MANIFEST = "manifest"  # M2xx/M3xx: schema, environments and references of the manifests
    DOMAIN = "domain"  # D4xx: the call-center rules (ccc_dsl/data/domain.yaml)
    SYNTAX = "syntax"  # P1xx: the .ivr file does not parse
    FLOW = "flow"  # P2xx: checks of one .ivr file without the manifests
    RESOLVE = "resolve"  # R5xx: names in flows against the manifests
    ANALYSIS = "analysis"  # A6xx: flow analyses over the IR
    BUNDLE = "bundle"  # B8xx: building the runtime bundle
    FLOWTEST = "flowtest"  # T7xx: flow test files and `ccc simulate`
    DEPLOY = "deploy"  # S9xx: `ccc plan` and `ccc apply`


DOCS: Mapping[Stage, str] = MappingProxyType({
    Stage.YAML: "docs/manifest.md#diagnostics",
    Stage.MANIFEST: "docs/manifest.md#diagnostics",
    Stage.DOMAIN: "docs/manifest.md#diagnostics",
    Stage.SYNTAX: "docs/dsl.md#diagnostics",
    Stage.FLOW: "docs/dsl.md#diagnostics",
    Stage.RESOLVE: "docs/compiler.md#r5xx-name-resolution",
    Stage.ANALYSIS: "docs/compiler.md#a6xx-analyses",
    Stage.BUNDLE: "docs/compiler.md#b8xx-bundle",
    Stage.FLOWTEST: "docs/testing.md#output",
    Stage.DEPLOY: "docs/deploy.md#diagnostics",
})
"""Where each stage's table of codes is, as a repo path with its Markdown heading anchor."""

SINGLE_FILE_STAGES = frozenset({Stage.YAML, Stage.SYNTAX, Stage.FLOW})
"""Stages that look at one file alone: their errors say a file could not be read as written."""

NAMES_UNKNOWN = frozenset({"Y101", "Y104", "Y105", "Y106", "Y107", "Y108", "Y112", "Y113",
                           "M204", "M207"})
"""Manifest errors after which the repo's names and values are not all known, so flows are not
resolved against them (each use would be a follow-on R5xx before the real error): a YAML file
that couldn't be read (Y102 and Y103 keep the rest), or an environment that can't be used, which
leaves every `${var...}` unresolved (an unknown `--env`, or variables with none selected)."""


@dataclass(frozen=True, slots=True)
class Code:
    """One diagnostic code: what it is about, how bad, and where the docs explain it."""

    code: str
    stage: Stage
    severity: Severity
    title: str
    echo_source: bool = True
    """False when the source line must not be shown (D422: it holds a secret)."""

    @property
    def docs(self) -> str:
        return DOCS[self.stage]


ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def _code(code: str, stage: Stage, severity: Severity, title: str,
          echo_source: bool = True) -> Code:
    return Code(code, stage, severity, title, echo_source)


_ALL = (
    # yaml
    _code("Y101", Stage.YAML, ERROR, "YAML syntax error"),
    _code("Y102", Stage.YAML, ERROR, "duplicate key"),
    _code("Y103", Stage.YAML, ERROR, "custom tag, non-core tag, or merge key"),
    _code("Y104", Stage.YAML, ERROR, "alias expansion over the cap, or a recursive alias"),
    _code("Y105", Stage.YAML, ERROR, "nesting too deep"),
    _code("Y106", Stage.YAML, ERROR, "file too large"),
    _code("Y107", Stage.YAML, ERROR, "not UTF-8 (UTF-16, invalid bytes) or a control character"),
    _code("Y108", Stage.YAML, ERROR, "binary file"),
    _code("Y109", Stage.YAML, ERROR, "empty file (no document)"),
    _code("Y110", Stage.YAML, ERROR, "no `ccc.yaml` in the folder, or the path is not a folder"),
    _code("Y111", Stage.YAML, ERROR, "a mapping key that is a list or mapping"),
    _code("Y112", Stage.YAML, ERROR, "more than one YAML document in a file"),
    _code("Y113", Stage.YAML, ERROR, "file can't be read"),
    _code("Y114", Stage.YAML, ERROR, "include or flow pattern, or a symlink, leaves the repo"),
    _code("Y115", Stage.YAML, WARNING, "include pattern matches no YAML file"),
    # manifest
    _code("M201", Stage.MANIFEST, ERROR,
          "unknown key (with did-you-mean), or a root-only key outside `ccc.yaml`"),
    _code("M202", Stage.MANIFEST, ERROR, "wrong type or value, invalid name, bad weekday key"),
    _code("M203", Stage.MANIFEST, ERROR, "missing required key"),
    _code("M204", Stage.MANIFEST, ERROR, "unknown environment (`--env` or `default_env`)"),
    _code("M205", Stage.MANIFEST, ERROR,
          "undefined variable, malformed `${...}`, a list/mapping embedded in text"),
    _code("M206", Stage.MANIFEST, ERROR, "an environment lacks variables another defines"),
    _code("M207", Stage.MANIFEST, ERROR, "a variable is used but no environment is selected"),
    _code("M208", Stage.MANIFEST, ERROR,
          "an outbound policy's `sip_domains` entry that is not a host name, `*.domain` or an "
          "IPv4 address"),
    _code("M210", Stage.MANIFEST, ERROR,
          "a function with `reply: text` lists `returns:` (a text reply has no fields)"),
    _code("M301", Stage.MANIFEST, ERROR,
          "reference to a resource (or supplier) that doesn't exist"),
    _code("M302", Stage.MANIFEST, ERROR, "duplicate name of a kind across files"),
    _code("M303", Stage.MANIFEST, ERROR, "variables refer to each other in a loop"),
    _code("M304", Stage.MANIFEST, ERROR, "the same phone number declared twice"),
    _code("M305", Stage.MANIFEST, ERROR, "no `instance:`, or more than one"),
    # domain
    _code("D401", Stage.DOMAIN, ERROR, "instance name holds other than letters and digits"),
    _code("D402", Stage.DOMAIN, ERROR,
          "instance domain holds other than ASCII letters, digits, `_`, `-`"),
    _code("D403", Stage.DOMAIN, INFO,
          "the domain can't change: `ccc plan` replaces the instance "
          "(`model.IMMUTABLE_FIELDS`)"),
    _code("D404", Stage.DOMAIN, ERROR,
          "a number that can't call out (400) used for outbound by a skill group"),
    _code("D405", Stage.DOMAIN, ERROR,
          "a number that can't be a caller id (400) as fixed caller id"),
    _code("D406", Stage.DOMAIN, ERROR, "a 400 number used to forward calls to an agent's mobile"),
    _code("D407", Stage.DOMAIN, ERROR,
          "mobile forwarding with no outbound-capable number in reach"),
    _code("D408", Stage.DOMAIN, WARNING, "a skill group with agents but no outbound number"),
    _code("D409", Stage.DOMAIN, WARNING, "a number bound to no flow: it can't take calls"),
    _code("D410", Stage.DOMAIN, ERROR, "outbound concurrency above the number type's limit"),
    _code("D411", Stage.DOMAIN, ERROR, "monthly seats: more agents than seats"),
    _code("D412", Stage.DOMAIN, ERROR,
          "prompt file missing, outside the repo, in a hidden folder, or a symlink loop"),
    _code("D413", Stage.DOMAIN, ERROR, "prompt file is not WAV"),
    _code("D414", Stage.DOMAIN, ERROR, "prompt file over 5 MB"),
    _code("D415", Stage.DOMAIN, ERROR, "work hours overlap (also two exceptions for one day)"),
    _code("D416", Stage.DOMAIN, ERROR,
          "work hours empty (a week without hours, an empty or inverted range)"),
    _code("D417", Stage.DOMAIN, ERROR, "time zone doesn't exist"),
    _code("D418", Stage.DOMAIN, ERROR, "outbound calling hours outside the supplier's window"),
    _code("D419", Stage.DOMAIN, ERROR, "not a (valid) phone number"),
    _code("D420", Stage.DOMAIN, ERROR, "a number's digits don't match its declared type"),
    _code("D421", Stage.DOMAIN, ERROR, "unknown region in blocked_regions"),
    _code("D422", Stage.DOMAIN, ERROR,
          "a secret written as a value instead of a reference (also a credential header: "
          "`Authorization`, `Cookie`, `X-Api-Key`; an unknown key that looks like a secret, "
          "e.g. `pasword:`)",
          echo_source=False),
    _code("D423", Stage.DOMAIN, ERROR, "a number bound to more than one flow"),
    _code("D424", Stage.DOMAIN, ERROR,
          "sip_trunk number without a trunk, or a trunk on another type"),
    _code("D425", Stage.DOMAIN, ERROR, "prompt has no variant for its default language"),
    _code("D426", Stage.DOMAIN, WARNING, "callee cap not one that suppliers use"),
    _code("D427", Stage.DOMAIN, ERROR, "outbound policy uses an inbound blacklist"),
    # syntax
    _code("P100", Stage.SYNTAX, ERROR,
          "the file can't be read, or is not UTF-8 (with the line of the bad byte)"),
    _code("P101", Stage.SYNTAX, ERROR,
          "unexpected input, with what was expected in words: \"unexpected string \"1\"; "
          "expected a key 0-9, * or #, `exhausted`, `noinput`, `nomatch` or `}`\"; also `=` "
          "where `==` is meant, a `then` with nothing after it, a word that is neither a "
          "statement nor a label"),
    _code("P102", Stage.SYNTAX, ERROR,
          "missing `->` (\"missing `->` after `1`\", \"missing `->` before `sales`\")"),
    _code("P103", Stage.SYNTAX, ERROR,
          "a duration without a unit (\"the duration `5` has no unit\", hint: write `5s`)"),
    _code("P104", Stage.SYNTAX, ERROR,
          "unknown keyword, with a did-you-mean (\"unknown keyword `plya`; did you mean "
          "`play`?\")"),
    _code("P105", Stage.SYNTAX, ERROR,
          "a reserved word used as a label (`menu:`, `then:`), or `then then` in a chain; "
          "`now` (the current time) as a variable"),
    _code("P106", Stage.SYNTAX, ERROR,
          "unclosed brace: a `}` missing before the next flow or at the end of the file, with"
          " the line of the `{`"),
    _code("P107", Stage.SYNTAX, ERROR, "unexpected character, or a string not closed on its line"),
    _code("P108", Stage.SYNTAX, ERROR, "too many syntax errors (stopped after 20)"),
    _code("P109", Stage.SYNTAX, ERROR,
          "blocks nested more than 64 deep (refused before parsing), or an expression nested "
          "more than 64 deep, or more than 30 in its bytecode tree (a chain of one operator, "
          "`a + b + c`, counts once)"),
    # flow
    _code("P201", Stage.FLOW, ERROR, "a label used twice in a flow"),
    _code("P202", Stage.FLOW, ERROR, "an exit or key handled twice in one statement"),
    _code("P203", Stage.FLOW, ERROR, "a flow name defined twice in a file"),
    _code("P204", Stage.FLOW, ERROR,
          "a duration out of range (timeout 500ms..1h, a function call's 500ms..1m, "
          "interdigit 200ms..30s, announce or "
          "script every 5s..1h, offer after 1s..1h, a script's at/from 0s..1h, maxlength "
          "1s..10m)"),
    _code("P205", Stage.FLOW, ERROR,
          "an option, argument, language or announcement/offer kind given twice"),
    _code("P206", Stage.FLOW, ERROR,
          "a count out of range: retries 0..10 (a function call's 0..3), digits 1..64 with "
          "min <= max, scale 0..9 with"
          " min < max, a queue capacity 1..10000, a terminator, a queue's key exit or an "
          "offer's key of one key"),
    _code("P207", Stage.FLOW, ERROR,
          "a required option missing (`menu`/`collect`/`survey` need a `prompt`, `collect` "
          "needs `digits`)"),
    _code("P208", Stage.FLOW, ERROR, "`reprompt` outside an exit of a menu, collect or survey"),
    _code("P209", Stage.FLOW, ERROR, "a multi-digit menu key without an `interdigit` timeout"),
    _code("P210", Stage.FLOW, ERROR, "an empty name (`play \"\"`)"),
    _code("P211", Stage.FLOW, ERROR,
          "an invalid `pattern` regular expression (RE2 syntax; the hint names what RE2 "
          "lacks)"),
    _code("P212", Stage.FLOW, ERROR, "an invalid `{{ }}` template in spoken text"),
    _code("P213", Stage.FLOW, ERROR,
          "call data assigned (`set caller.number = ...`, `collect time ...`, `as queue`): it"
          " is read-only"),
    _code("P214", Stage.FLOW, ERROR,
          "a number too large: integers go up to 2^63-1 (64 bits), decimals must be finite "
          "(`ccc fmt` leaves such a file alone)"),
    _code("P215", Stage.FLOW, ERROR,
          "a queue `priority` written as a literal that is not an integer (`\"high\"`, `1.5`,"
          " `true`): the runtime refuses it"),
    _code("P216", Stage.FLOW, ERROR,
          "an unknown function (`uper(x)`), with a did-you-mean; the functions are listed in "
          "docs/dsl.md \"Expressions\""),
    _code("P217", Stage.FLOW, ERROR,
          "a function given too few or too many arguments (`pad(code)`), with its signature"),
    _code("P220", Stage.FLOW, ERROR,
          "a transfer destination or `caller_id` written as a literal that is not a string "
          "(`transfer sip 5`): destinations are text"),
    _code("P221", Stage.FLOW, ERROR,
          "a `transfer sip` literal that is not a SIP URI we dial (`sip:user@host[:port]`, no "
          "parameters or headers)"),
    _code("P222", Stage.FLOW, ERROR,
          "a `record` whose `silence` is not shorter than its `maxlength`"),
    _code("P224", Stage.FLOW, ERROR,
          "a menu key that is neither a key nor a key pattern (digits, `*`, `#`, `X`, `Z`, "
          "`N`, `[1-5]`; upper case)"),
    _code("P225", Stage.FLOW, ERROR,
          "a bound passed: over 100 keys in a menu, a key of over 16 presses or 64 "
          "characters, over 32 entries in a queue's `waiting` script"),
    _code("P226", Stage.FLOW, ERROR,
          "`forever` retries outside a menu, or an `exhausted` exit on a menu whose two "
          "counters are `forever` (it can never be taken)"),
    _code("P227", Stage.FLOW, ERROR,
          "a queue's `full` exit without a `capacity`, or a `waiting` entry at or after the "
          "queue's timeout (it never happens)"),
    # resolve
    _code("R501", Stage.RESOLVE, ERROR, "unknown prompt"),
    _code("R502", Stage.RESOLVE, ERROR, "unknown skill group"),
    _code("R503", Stage.RESOLVE, ERROR, "unknown agent"),
    _code("R504", Stage.RESOLVE, ERROR, "unknown schedule"),
    _code("R505", Stage.RESOLVE, ERROR, "unknown function"),
    _code("R506", Stage.RESOLVE, ERROR, "unknown blacklist"),
    _code("R507", Stage.RESOLVE, ERROR,
          "unknown voicemail box (boxes are named after skill groups)"),
    _code("R508", Stage.RESOLVE, ERROR, "unknown sub-flow (`call flow`)"),
    _code("R509", Stage.RESOLVE, ERROR,
          "a flow binding (manifest) names a flow no `.ivr` file defines; the span is in the "
          "manifest"),
    _code("R510", Stage.RESOLVE, ERROR,
          "an outside number (`transfer number \"...\"`) that isn't a valid number in E.164 "
          "form"),
    _code("R511", Stage.RESOLVE, ERROR,
          "an outside number the instance's outbound policy refuses: on its outbound "
          "blacklist, or in a blocked region (`blocked_regions`, by the number's province or "
          "city)"),
    _code("R512", Stage.RESOLVE, ERROR, "a flow name defined in two files (flow names are global)"),
    _code("R513", Stage.RESOLVE, ERROR, "a `goto` / `->` to a label the flow doesn't have"),
    _code("R514", Stage.RESOLVE, ERROR,
          "`language \"xx\"` with a language the call center has no prompts in (nor as the "
          "instance's default): the runtime refuses it"),
    _code("R517", Stage.RESOLVE, ERROR,
          "a literal `transfer sip` URI whose host the outbound policy's `sip_domains` doesn't "
          "list (or no outbound policy): the runtime refuses it"),
    _code("R518", Stage.RESOLVE, ERROR,
          "a literal `caller_id` the outbound policy never shows: not one of the instance's "
          "numbers, a 400 number, or not the policy's fixed caller id"),
    _code("R520", Stage.RESOLVE, WARNING,
          "`when_empty wait` on a skill group no agent belongs to: every caller would wait "
          "until the queue's timeout"),
    # analysis
    _code("A601", Stage.ANALYSIS, WARNING,
          "unreachable statement or step (the optimizer drops it)"),
    _code("A602", Stage.ANALYSIS, ERROR,
          "a path runs off the end of the flow instead of ending in a hang-up, transfer, "
          "voicemail, `goto` or (sub-flow) `return`"),
    _code("A603", Stage.ANALYSIS, ERROR,
          "a loop that repeats without caller input (prompts, gotos, lookups going round; "
          "also gotos alone)"),
    _code("A604", Stage.ANALYSIS, ERROR,
          "a loop that can repeat forever without the caller choosing (e.g. a queue timeout "
          "that queues again)"),
    _code("A605", Stage.ANALYSIS, ERROR,
          "an input without a retry limit: its `exhausted` exit leads back to it"),
    _code("A606", Stage.ANALYSIS, ERROR,
          "keys that shadow each other: a queue offer's key equal to a queue key exit or "
          "another offer's key"),
    _code("A607", Stage.ANALYSIS, ERROR, "a variable read where no path can have set it"),
    _code("A608", Stage.ANALYSIS, ERROR,
          "a queue without a `busy` or `timeout` exit (the caller would fall through to the "
          "next statement)"),
    _code("A609", Stage.ANALYSIS, ERROR,
          "sub-flow recursion (a flow calls itself, directly or through others), or sub-flows"
          " nested deeper than the runtime allows (8 levels of `call flow` from a flow no one"
          " calls)"),
    _code("A610", Stage.ANALYSIS, ERROR, "`say` text that is empty"),
    _code("A611", Stage.ANALYSIS, ERROR,
          "`say` text longer than 500 characters (record it as a prompt)"),
    _code("A612", Stage.ANALYSIS, ERROR,
          "time to agent (seconds of prompts) over the manifest's `max_time_to_agent_seconds`"),
    _code("A613", Stage.ANALYSIS, ERROR,
          "key presses to an agent over the manifest's `max_key_presses`"),
    _code("A614", Stage.ANALYSIS, WARNING,
          "a call data field the runtime doesn't provide (`caller.name`: always null)"),
    _code("A615", Stage.ANALYSIS, WARNING,
          "a field of a function's result that the function's manifest `returns:` doesn't "
          "list (`result.balanse`: always null); checked on expressions where only function "
          "calls write the result variable and every one declares `returns:`"),
    _code("A616", Stage.ANALYSIS, ERROR,
          "an operator whose operands' types never work (`\"abc\" - 1`, `-\"x\"`, `5[0]`, "
          "`[1] < 2`): the call would always take the error path"),
    _code("A617", Stage.ANALYSIS, ERROR,
          "a function given an argument of a type it never takes (`upper(5)`, "
          "`pad(code, \"6\")`)"),
    _code("A618", Stage.ANALYSIS, ERROR, "a division or remainder by a literal zero (`x / 0`)"),
    _code("A619", Stage.ANALYSIS, WARNING,
          "a transfer to a destination from data without a `failed` exit: a refused "
          "destination takes `busy` (or ends the call)"),
    _code("A621", Stage.ANALYSIS, ERROR,
          "two menu keys that both match some input, neither more specific than the other "
          "(`1X` and `X1` both match 11)"),
    _code("A622", Stage.ANALYSIS, ERROR,
          "two menu keys that match exactly the same inputs (`N` and `[2-9]`)"),
    _code("A623", Stage.ANALYSIS, WARNING,
          "a menu key never taken: more specific keys take every input it matches"),
    _code("A626", Stage.ANALYSIS, WARNING,
          "a field of the result of a `reply: text` function (`result.name`: the reply is one "
          "string, so always null)"),
    _code("A625", Stage.ANALYSIS, WARNING,
          "a SIP header read as call data that never reaches a flow (`call.headers.contact`: "
          "only X- headers and a few others pass)"),
    # flowtest
    _code("T700", Stage.FLOWTEST, ERROR, "the file can't be read"),
    _code("T701", Stage.FLOWTEST, ERROR, "unknown key (with did-you-mean)"),
    _code("T702", Stage.FLOWTEST, ERROR, "missing required key (`name`, `expect`, `tests`)"),
    _code("T703", Stage.FLOWTEST, ERROR,
          "bad value: a time without UTC offset, a bad key in `keys`, an unknown agent state,"
          " a stub with both `reply` and `error`, a `language` the repo lacks, a skill group "
          "under `waiting` the repo lacks, a duration over 24h, ..."),
    _code("T706", Stage.FLOWTEST, ERROR, "a stub file can't be read or is not JSON"),
    _code("T710", Stage.FLOWTEST, ERROR, "no `ccc.yaml` in PATH or above"),
    _code("T711", Stage.FLOWTEST, ERROR, "no test files found"),
    _code("T712", Stage.FLOWTEST, ERROR, "the compiled bundle is not valid"),
    _code("T713", Stage.FLOWTEST, ERROR, "no such flow"),
    _code("T714", Stage.FLOWTEST, ERROR, "a test names neither `flow` nor `called`"),
    _code("T715", Stage.FLOWTEST, ERROR, "no flow is bound to the `called` number"),
    _code("T716", Stage.FLOWTEST, ERROR,
          "no such agent (in `agents`, `agent_answers`, `events`, `history`)"),
    _code("T717", Stage.FLOWTEST, ERROR, "no such function (in `functions`)"),
    _code("T718", Stage.FLOWTEST, ERROR, "a test has no `caller` or no `at`"),
    _code("T719", Stage.FLOWTEST, ERROR, "two tests with the same name in one file"),
    _code("T720", Stage.FLOWTEST, ERROR,
          "a scenario call's `at` not later than the test's start or the call before's"),
    _code("T725", Stage.FLOWTEST, ERROR,
          "a `numbers:` key that is not a phone number or a SIP URI"),
    # deploy
    _code("S901", Stage.DEPLOY, ERROR, "the plan deletes or replaces a resource with "
          "prevent_destroy"),
    _code("S902", Stage.DEPLOY, ERROR, "the environment has no deploy target"),
    # bundle
    _code("B801", Stage.BUNDLE, ERROR,
          "a function method or token source the runtime can't carry out"),
    _code("B802", Stage.BUNDLE, ERROR, "a prompt file can't be read while the bundle is built"),
)

CODES: Mapping[str, Code] = MappingProxyType({c.code: c for c in _ALL})


def lookup(code: str) -> Code | None:
    """The registry entry of `code`; None for a code this version doesn't know."""
    return CODES.get(code)


def stage_of(code: str) -> Stage | None:
    entry = CODES.get(code)
    return entry.stage if entry is not None else None


def diagnostic(code: str, message: str, span: Span | None = None,
               hint: str | None = None) -> Diagnostic:
    """A diagnostic at the severity the registry gives `code` (KeyError if unregistered)."""
    return Diagnostic(CODES[code].severity, code, message, span, hint)
