"""Properties (hypothesis): generated valid flows survive printing and parsing, formatting is
idempotent, and random or mutated text gives diagnostics, never an exception."""

from __future__ import annotations

from pathlib import Path

from gr_helpers import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccc_dsl.diagnostics import Span
from ccc_dsl.grammar import ast
from ccc_dsl.grammar.formatter import format_module, format_text
from ccc_dsl.grammar.parser import parse_text

FILE = "gen.ivr"
S = Span(FILE, 1, 1, 1, 1)  # spans don't take part in equality
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

names = st.sampled_from(["a", "b", "start", "next_step", "x1", "Main_2"])
var_names = st.sampled_from(["account", "x", "result", "caller", "time", "vip_caller"])
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
nonblank = st.text(st.characters(exclude_categories=["Cs", "Z", "C"]), min_size=1, max_size=10)
durations = st.integers(min_value=0, max_value=7_200_000)
counts = st.integers(min_value=0, max_value=12)
keys = st.sampled_from(["0", "1", "2", "9", "*", "#", "12", "123"])


def ref(kind: ast.RefKind, name: st.SearchStrategy[str] = nonblank) -> st.SearchStrategy[ast.Ref]:
    return st.builds(ast.Ref, st.just(kind), name, st.just(S))


variables = st.builds(ast.Var, st.lists(var_names, min_size=1, max_size=3).map(tuple), st.just(S))
literals = st.builds(
    ast.Literal,
    st.one_of(texts, st.integers(0, 10**6), st.booleans(), st.none(),
              st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 3))),
    st.just(S),
)
exprs = st.recursive(
    st.one_of(literals, variables),
    lambda inner: st.one_of(
        st.builds(ast.Unary, st.sampled_from(ast.UnaryOp), inner, st.just(S)),
        st.builds(ast.Binary, st.sampled_from(ast.BinaryOp), inner, inner, st.just(S)),
        st.builds(ast.ListExpr, st.lists(inner, max_size=3).map(tuple), st.just(S)),
    ),
    max_leaves=6,
)

tts_single = st.builds(lambda t: ast.Tts((ast.TtsText(None, t, S),), S), texts)
tts_langs = st.lists(st.sampled_from(["zh", "en", "ja"]), min_size=1, max_size=3,
                     unique=True).flatmap(
    lambda langs: st.tuples(*[st.builds(ast.TtsText, st.just(lang), texts, st.just(S))
                              for lang in langs]).map(lambda ts: ast.Tts(ts, S)))
prompt_items = st.one_of(ref(ast.RefKind.PROMPT), tts_single, tts_langs,
                         st.builds(ast.Recording, variables, st.just(S)))
audios = st.builds(ast.Audio, st.lists(prompt_items, min_size=1, max_size=3).map(tuple),
                   st.booleans(), st.just(S))
optional_audio = st.none() | audios


def exits_for(stmt: type, body: st.SearchStrategy[ast.Block]) -> st.SearchStrategy[
        tuple[ast.Exit, ...]]:
    pool = sorted(ast.EXIT_NAMES[stmt]) + (["1", "2", "*", "#", "12", "1XX", "[1-5]", "N"]
                                           if stmt in ast.KEYED else [])
    return st.lists(st.sampled_from(pool), unique=True, max_size=4).flatmap(
        lambda chosen: st.tuples(*[st.builds(ast.Exit, st.just(n), body, st.just(S))
                                   for n in chosen]))


def _menu(prompt: ast.Audio, timeout: int, interdigit: int | None, noinput: int, nomatch: int,
          noinput_forever: bool, nomatch_forever: bool, reset: bool,
          exits: tuple[ast.Exit, ...]) -> ast.Menu:
    """A menu as the parser builds it: a `forever` counter's number is 0."""
    return ast.Menu(prompt, timeout, interdigit, 0 if noinput_forever else noinput,
                    0 if nomatch_forever else nomatch, noinput_forever, nomatch_forever, reset,
                    exits, S)


def _queue_play(start: int, every: int | None, audio: ast.Audio | None,
                say: ast.AnnounceKind) -> ast.QueuePlay:
    """An in-queue play as the parser builds it: a built-in sentence only without audio."""
    return ast.QueuePlay(start, every, audio, None if audio is not None else say, S)


def statements(body: st.SearchStrategy[ast.Block]) -> st.SearchStrategy[ast.Stmt]:
    """Statements that may stand in a chain (every kind but `if`), exits drawn from `body`."""
    simple: list[st.SearchStrategy[ast.Stmt]] = [
        st.builds(ast.Play, audios, st.just(S)),
        st.builds(ast.Set, variables, exprs, st.just(S)),
        st.builds(ast.Goto, ref(ast.RefKind.LABEL, names), st.just(S)),
        st.just(ast.Hangup(S)), st.just(ast.Return(S)), st.just(ast.Reprompt(S)),
        st.builds(ast.Language, exprs, st.just(S)),
        st.builds(ast.CallFlow, ref(ast.RefKind.FLOW, names), st.just(S)),
        st.builds(ast.Voicemail, ref(ast.RefKind.VOICEMAIL), optional_audio, durations,
                  st.just(()), st.just(S)),
        st.builds(ast.Record, var_names, durations, st.none() | durations, st.booleans(),
                  st.none() | keys, st.none() | ref(ast.RefKind.VOICEMAIL), st.just(S)),
        st.builds(ast.Pause, durations, st.booleans(), st.just(S)),
    ]
    branching: list[st.SearchStrategy[ast.Stmt]] = [
        st.builds(_menu, audios, durations, st.none() | durations, counts, counts,
                  st.booleans(), st.booleans(), st.booleans(), exits_for(ast.Menu, body)),
        st.builds(ast.Collect, var_names, audios, counts, counts, st.none() | keys, durations,
                  st.none() | durations, st.none() | texts, counts, counts,
                  exits_for(ast.Collect, body), st.just(S)),
        st.builds(ast.Survey, audios, counts, counts, durations, counts, counts, optional_audio,
                  exits_for(ast.Survey, body), st.just(S)),
        st.builds(ast.Hours, ref(ast.RefKind.SCHEDULE), exits_for(ast.Hours, body), st.just(S)),
        st.builds(ast.Blacklist, ref(ast.RefKind.BLACKLIST), st.none() | exprs,
                  exits_for(ast.Blacklist, body), st.just(S)),
        st.builds(ast.CallFunction, ref(ast.RefKind.FUNCTION),
                  st.lists(st.builds(ast.Arg, var_names, exprs, st.just(S)), max_size=2)
                  .map(tuple), st.none() | durations, var_names, st.integers(0, 3),
                  exits_for(ast.CallFunction, body), st.just(S)),
        st.builds(ast.Staffing, ref(ast.RefKind.GROUP), exits_for(ast.Staffing, body),
                  st.just(S)),
        st.builds(
            ast.TransferQueue, ref(ast.RefKind.GROUP) | variables, st.none() | exprs, durations,
            st.booleans(), optional_audio,
            st.lists(st.builds(ast.Announce, st.sampled_from(ast.AnnounceKind), durations,
                               optional_audio, st.just(S)), max_size=2).map(tuple),
            st.lists(st.builds(ast.Offer, st.sampled_from(ast.OfferKind), durations,
                               st.sampled_from(["1", "*", "#"]), optional_audio, st.just(S)),
                     max_size=2).map(tuple),
            st.none() | st.integers(1, 50), st.booleans(),
            st.lists(st.one_of(
                st.builds(_queue_play, durations, st.none() | durations, optional_audio,
                          st.sampled_from(ast.AnnounceKind)),
                st.builds(ast.QueueCheck, durations, st.none() | durations, st.just(S)),
                st.builds(ast.Offer, st.sampled_from(ast.OfferKind), durations,
                          st.sampled_from(["1", "*", "#"]), optional_audio, st.just(S))),
                max_size=3).map(tuple),
            exits_for(ast.TransferQueue, body), st.just(S)),
        st.builds(ast.TransferAgent, ref(ast.RefKind.AGENT) | variables, durations,
                  exits_for(ast.TransferAgent, body), st.just(S)),
        st.builds(ast.TransferNumber, exprs, durations, st.none() | exprs,
                  exits_for(ast.TransferNumber, body), st.just(S)),
        st.builds(ast.TransferSip, exprs, durations, st.none() | exprs,
                  exits_for(ast.TransferSip, body), st.just(S)),
        st.builds(ast.Voicemail, ref(ast.RefKind.VOICEMAIL), optional_audio, durations,
                  exits_for(ast.Voicemail, body), st.just(S)),
    ]
    return st.one_of(*simple, *branching)


def chains(depth: int) -> st.SearchStrategy[ast.Block]:
    if depth == 0:
        leaf = st.one_of(st.just(ast.Hangup(S)), st.builds(ast.Goto, ref(ast.RefKind.LABEL, names),
                                                           st.just(S)))
        return st.lists(leaf, min_size=1, max_size=2).map(tuple)
    return st.lists(statements(chains(depth - 1)), min_size=1, max_size=3).map(tuple)


ifs = st.builds(ast.If, exprs, chains(1), st.none() | chains(1), st.just(S))
steps = st.builds(ast.Step, names, st.just(S),
                  st.lists(st.one_of(statements(chains(1)), ifs), min_size=1, max_size=3)
                  .map(tuple), st.just(S))
flows = st.builds(ast.Flow, names, st.just(S), st.none() | texts,
                  st.lists(steps, max_size=3).map(tuple), st.just(S))
modules = st.builds(ast.Module, st.just(FILE), st.lists(flows, max_size=2).map(tuple), st.just(S))


@SETTINGS
@given(modules)
def test_printed_ast_parses_back_to_itself(module: ast.Module) -> None:
    text = format_module(module)
    result = parse_text(text, FILE)
    assert not [d for d in result.diagnostics if d.code < "P2"], (text, result.diagnostics)
    assert result.module == module, text


@SETTINGS
@given(modules)
def test_format_is_idempotent(module: ast.Module) -> None:
    text = format_module(module)
    once = format_text(text, FILE)
    assert format_text(once, FILE) == once


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_gives_diagnostics_not_exceptions(text: str) -> None:
    result = parse_text(text, FILE)
    if result.module is None:
        assert result.diagnostics
    for d in result.diagnostics:
        assert d.span is not None and d.span.file == FILE and d.span.line >= 1
    assert isinstance(format_text(text, FILE), str)


EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.ivr"))]
TOKENS = ["{", "}", "->", "then", "menu", "1", '"', "5", "flow", ":", "\n", "//", "#", "say"]


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        size = draw(st.integers(1, 8))
        if kind == "delete":
            text = text[:pos] + text[pos + size:]
        elif kind == "insert":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        else:
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos + size:]
    return text


@SETTINGS
@given(mutated_examples())
def test_mutated_examples_give_diagnostics_not_exceptions(text: str) -> None:
    result = parse_text(text, FILE)
    lines = text.count("\n") + 1
    if result.module is None:
        assert result.diagnostics
    for d in result.diagnostics:
        assert d.span is not None and 1 <= d.span.line <= lines + 1
    once = format_text(text, FILE)
    assert format_text(once, FILE) == once


def test_the_examples_are_mutable_inputs() -> None:
    assert len(EXAMPLE_TEXTS) >= 6 and all(t.strip() for t in EXAMPLE_TEXTS)
    assert Path(EXAMPLES).is_dir()
