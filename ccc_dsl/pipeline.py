"""The one orchestrator of the pipeline, shared by every command:

- `check_repo`: load the manifests, parse every flow, resolve names and analyse the flows
  (what `ccc validate` runs); every stage adds diagnostics, none raises on bad input;
- `compile_repo`: the same, then emit one .ccb image per flow when nothing is wrong;
- `build_bundle`: the same, then the runtime bundle: the one builder that `ccc compile -o`,
  `ccc test`, `ccc simulate`, `ccc serve` and `ccc apply` all use (layout: docs/runtime.md);
- `cached_bundle`: `build_bundle` through the build cache (ccc_dsl/compiler/cache.py), for the
  commands that need the bundle and not the IR;
- `find_repo_root`: the config repo a path belongs to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccc_runtime.digest import BUNDLE_FILE, MANIFEST_FILE, bundle_digest, manifest_bytes

from ccc_dsl.cache import cache_dir, repo_snapshot
from ccc_dsl.codes import NAMES_UNKNOWN
from ccc_dsl.compiler import cache
from ccc_dsl.compiler.results import BUILD_FILE, Analysis, Build
from ccc_dsl.diagnostics import Diagnostic, Span, error, has_errors, sorted_diagnostics
from ccc_dsl.util import json_indented

if TYPE_CHECKING:  # the compiler, the parser and pydantic: imported by the stage that runs them
    from ccc_runtime.bundle import Bundle

    from ccc_dsl.grammar import ast
    from ccc_dsl.manifest.loader import LoadResult
    from ccc_dsl.manifest.model import Model


@dataclass
class RepoCheck:
    """What the front half knows about a config repo."""

    model: Model | None
    modules: list[ast.Module] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    analysis: Analysis | None = None
    """Name resolution and flow analyses (the compiler's front half); its IRs feed emission."""
    manifests: LoadResult | None = None
    """The loaded manifests, for a later check that only flows changed (`check_repo(...,
    manifests=)`)."""


def find_repo_root(path: Path) -> Path | None:
    """The folder holding ccc.yaml: `path` itself or its nearest ancestor."""
    from ccc_dsl.manifest import ROOT_FILE

    start = path.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        if (folder / ROOT_FILE).is_file():
            return folder
    return None


def check_repo(root: Path, env: str | None,
               overlays: Mapping[Path, str] | None = None,
               manifests: LoadResult | None = None) -> RepoCheck:
    """Load, parse and analyse the config repo at `root`. `overlays` maps files of the repo
    (manifests or flows) to unsaved text to check instead of what is on disk, as an editor
    asks; files are found as on disk, so an overlay of a file that doesn't exist yet is unused.
    `manifests`, an earlier check's `.manifests` of the same repo and env, is reused instead of
    loading them again: a language server re-checks as flows are typed, and the manifests of a
    large repo take longer to load than the flows to check."""
    from ccc_dsl.compiler.driver import analyse
    from ccc_dsl.grammar.parser import parse_file, parse_text
    from ccc_dsl.manifest.loader import load_repo
    from ccc_dsl.util import paused_gc

    resolved = {Path(p).resolve(): text for p, text in overlays.items()} if overlays else None
    loaded = manifests if manifests is not None else load_repo(root, env, resolved)
    check = RepoCheck(model=loaded.model, diagnostics=list(loaded.diagnostics),
                      manifests=loaded)
    unparsed = 0
    with paused_gc():  # ASTs are many small objects without cycles: don't rescan them
        for flow_file in loaded.flow_files:
            text = resolved.get(flow_file.resolve()) if resolved else None
            parsed = parse_file(flow_file) if text is None else parse_text(text, str(flow_file))
            check.diagnostics.extend(parsed.diagnostics)
            if parsed.module is not None:
                check.modules.append(parsed.module)
            else:
                unparsed += 1
    if unparsed:
        # The flows of a file with syntax errors are unknown: analysing the rest would report
        # every call to them as a call to a missing flow. Syntax first, as compilers do.
        return check
    if any(d.code in NAMES_UNKNOWN and d.is_error for d in loaded.diagnostics):
        # Likewise a manifest that couldn't be read at all, or an environment that can't be
        # used: names or values are unknown, and flows would get R5xx before the real error.
        return check
    root_dir = Path(loaded.model.root) if loaded.model is not None else None
    check.analysis = analyse(check.modules, check.model, root_dir)
    check.diagnostics.extend(check.analysis.diagnostics)
    _keep_phone_facts()
    return check


def _keep_phone_facts() -> None:
    """Keep on disk what name resolution memoized of phone numbers (the regions of outside
    numbers: the geocoder is 0.3 s to import), beside what loading the manifests did."""
    from ccc_dsl.manifest import cache as manifest_cache
    from ccc_dsl.manifest import phones

    manifest_cache.store_phones(phones.export())


def compile_repo(root: Path, env: str | None, manifests: LoadResult | None = None) -> Build:
    """Load, parse, analyse and (when there are no errors) emit the config repo at `root`
    (`manifests`: as `check_repo`'s)."""
    from ccc_dsl.compiler.driver import emit_all

    check = check_repo(root, env, manifests=manifests)
    analysis = check.analysis
    diagnostics = sorted_diagnostics(check.diagnostics)
    if analysis is None or has_errors(diagnostics):
        return Build({}, diagnostics, analysis)
    return Build(emit_all(analysis), diagnostics, analysis)


@dataclass
class BundleBuild:
    """A compiled repo as a runtime bundle: its files (relative path -> bytes, manifest.json
    included) and the verified `Bundle`; both empty when there are errors."""

    build: Build
    files: dict[str, bytes] = field(default_factory=dict)
    bundle: Bundle | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bundle is not None or bool(self.files)

    @property
    def digest(self) -> str:
        return bundle_digest(self.files)


def _json_bytes(doc: Any) -> bytes:
    return (json_indented(doc) + "\n").encode()


def build_bundle(root: Path, env: str | None, build: Build | None = None,
                 verified: Collection[str] | None = None) -> BundleBuild:
    """Compile the repo and assemble its bundle: bundle.json (the call-time configuration),
    one FLOW.ccb per flow, the prompt audio under its repo-relative path, build.json (the build
    manifest) and manifest.json (hashes and digest). Errors come back as diagnostics. `build`:
    the repo already compiled (incrementally: `cached_bundle`). `verified`: check the bundle
    without making the `Bundle` (`bundle` stays None), skipping the images of these flows
    (verified when an earlier build made them: `ccc compile` after an edit)."""
    from ccc_runtime.bundle import BundleError, bundle_from_parts, check_parts

    from ccc_dsl.compiler.bundle import bundle_config
    from ccc_dsl.manifest import ROOT_FILE
    from ccc_dsl.util import paused_gc

    if build is None:
        build = compile_repo(root, env)
    result = BundleBuild(build, diagnostics=[d for d in build.diagnostics if d.is_error])
    model = build.analysis.program.model if build.analysis is not None else None
    where = Span.point(str(root / ROOT_FILE), 1, 1)
    if result.diagnostics or model is None:
        result.diagnostics = result.diagnostics or [
            error("T712", f"{root}: the config repo has no manifests", where)]
        return result
    config, problems = bundle_config(model)
    if problems:
        result.diagnostics = problems
        return result
    files: dict[str, bytes] = {f"{name}.ccb": flow.image for name, flow in build.flows.items()}
    for variants in config["prompts"].values():
        for variant in variants.values():
            rel = variant.get("file")
            if rel is not None and rel not in files:
                try:
                    files[rel] = (Path(model.root) / rel).read_bytes()
                except OSError as exc:
                    result.diagnostics.append(error(
                        "B802", f"can't read prompt file `{rel}`: {exc.strerror or exc}", where))
    if result.diagnostics:
        return result
    flows = {name: f"{name}.ccb" for name in sorted(build.flows)}
    files[BUNDLE_FILE] = _json_bytes({**config, "flows": flows})
    files[BUILD_FILE] = _json_bytes(build.manifest())
    images = {n: f.image for n, f in build.flows.items()}
    bundle: Bundle | None = None
    try:
        with paused_gc():  # decoding makes many small objects, no cycles; the heap holds the IR
            if verified is None:
                bundle = bundle_from_parts(config, images, source=f"{root} (compiled)",
                                           root=Path(model.root))
            else:
                check_parts(config, images, verified, source=f"{root} (compiled)")
    except BundleError as exc:
        result.diagnostics = [error("T712", f"the compiled bundle is not valid: {p}", where)
                              for p in exc.problems]
        return result
    files[MANIFEST_FILE] = manifest_bytes(files)
    result.files = dict(sorted(files.items()))
    result.bundle = bundle
    return result


def cached_bundle(root: Path, env: str | None, verify: bool = True) -> BundleBuild:
    """`build_bundle`, reused when the repo, the environment and ccc are unchanged since a
    build was kept (its `build.analysis` is then None), else built incrementally. `ccc
    compile`, `ccc test` and `ccc simulate` run it; a damaged or missing entry is simply built
    again. `verify=False`: no `Bundle` (`bundle` stays None; `ccc compile` only writes the
    files): a kept build's files as they are, and of an incremental build only the images
    made this time are decoded and checked (the others were when they were made)."""
    if cache_dir() is None:
        return build_bundle(root, env)
    snapshot = repo_snapshot(root)
    key = cache.build_key(root, env, snapshot)
    hit = cache.load_build(key)
    if hit is not None:
        build, files, errors = hit
        result = BundleBuild(build, diagnostics=errors)
        if files and not verify:
            result.files = files
            return result
        if files:
            bundle = cache.rebuild_bundle(files, build, root)
            if bundle is not None:
                result.files, result.bundle = files, bundle
                return result
        elif errors:
            return result
    from ccc_dsl.compiler.incremental import incremental_build
    from ccc_dsl.manifest.loader import load_repo

    loaded = load_repo(root, env)
    incremental = incremental_build(loaded, env, snapshot)
    images = None
    if incremental is None:
        built = build_bundle(root, env, compile_repo(root, env, loaded))
    else:
        built = build_bundle(root, env, incremental.build,
                             None if verify else incremental.reused)
        images = incremental.keep(verified=built.ok)
        _keep_phone_facts()
    cache.store_build(key, built.build, built.files, built.diagnostics, images)
    return built
