"""Loading a config repo: find the root file, read every included YAML file safely (with
positions), select the environment, validate each resource with pydantic, map every error back
to file:line:col, normalize phone numbers, and run the domain checks.

Nothing here raises on bad input: every problem becomes a located `Diagnostic`, and one run
reports them all. Each resource is validated on its own so that one broken resource doesn't hide
problems in the others.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ccc_dsl.codes import Stage, stage_of
from ccc_dsl.diagnostics import Diagnostic, Span, error, warning
from ccc_dsl.manifest import ROOT_FILE, cache, phones
from ccc_dsl.manifest.checks import run_checks
from ccc_dsl.manifest.environments import Resolver
from ccc_dsl.manifest.model import (
    KINDS,
    TIME_RANGE_RE,
    Agent,
    Blacklist,
    Instance,
    Model,
    Number,
    Resource,
    RootSettings,
    Source,
    Spec,
)
from ccc_dsl.manifest.parsed import MAX_FILE_BYTES, ParsedFile, PathKey
from ccc_dsl.manifest.phones import parse_phone
from ccc_dsl.util import did_you_mean

NAME_RE = re.compile(r"^[^\W_][\w.-]{0,63}$")
ROOT_KEYS = set(RootSettings.model_fields)
FILE_KEYS = {"instance", *KINDS}
SECRET_FIELDS = {"token", "password"}
_SECRET_LIKE = re.compile(r"pass|pwd|token|secret", re.IGNORECASE)

_FRIENDLY_PATTERNS = {
    TIME_RANGE_RE: "expected a time range like 09:00-18:00",
    r"^sips?:[^@\s:]+@[^\s@]+$": "expected a SIP address like sip:alice@127.0.0.1:5070",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "expected an environment variable name like LOOKUP_TOKEN",
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$": "expected a language code like zh or en",
    r"^\+?[0-9]{1,15}$": "expected digits with an optional leading +",
}


@dataclass
class LoadResult:
    """`model` is None only when the repo can't be read at all (no root file, root unreadable).
    Otherwise it holds every resource that validated, even when diagnostics have errors."""

    model: Model | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    flow_files: list[Path] = field(default_factory=list)


Overlays = Mapping[Path, str]
"""Unsaved editor buffers: resolved absolute path -> the text to use instead of the file's."""


def read_yaml(path: Path, display: str, overlays: Overlays | None = None) -> ParsedFile:
    """One file (or its overlay), parsed or from the cache; unreadable files become
    diagnostics."""
    text = overlays.get(path.resolve()) if overlays else None
    try:
        if text is not None:
            raw = text.encode("utf-8", "surrogatepass")[:MAX_FILE_BYTES + 1]
        else:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        parsed = ParsedFile(display)
        parsed.diagnostics.append(error("Y113", f"can't read the file: {exc.strerror or exc}",
                                        Span.point(display, 1, 1)))
        return parsed
    return cache.parse(display, raw)


class _Loader:
    def __init__(self, root_dir: Path, root_file: Path, env: str | None,
                 overlays: Overlays | None = None) -> None:
        self.root_dir = root_dir
        self.overlays = overlays
        self.root_file = root_file
        self.env_arg = env
        self.diagnostics: list[Diagnostic] = []
        self.declared: dict[str, dict[str, Source]] = {k: {} for k in ("instance", *KINDS)}
        self.real_root = root_dir.resolve()
        self.yaml_broken = False
        """The file being loaded has YAML errors: declare its names, validate nothing."""
        self.var_paths: dict[PathKey, list[PathKey]] = {}
        """Per resource (kind, name) of the file being loaded: paths holding `${`."""

    # -- root file and includes ------------------------------------------------------------

    def load(self) -> LoadResult:
        phones.seed(cache.load_phones())
        root = read_yaml(self.root_file, str(self.root_file), self.overlays)
        self.diagnostics.extend(root.diagnostics)
        if root.data is None and root.diagnostics:
            return LoadResult(None, self.diagnostics)
        if not isinstance(root.data, dict):
            self.diagnostics.append(error(
                "M202", "the root file must be a mapping (kinds and settings as keys)",
                root.span(()), "see docs/manifest.md for the layout"))
            return LoadResult(None, self.diagnostics)
        settings = self._settings(root)
        env = self._select_env(settings, root)
        variables = settings.environments[env].variables if env in settings.environments else {}
        # An environment was asked for but can't be used (unknown, or itself broken): that is
        # reported once; every `${var...}` saying "no environment selected" would be noise.
        requested = self.env_arg is not None or root.data.get("default_env") is not None
        resolver = Resolver(env, variables, root, env_reported=env is None and requested)
        files = [root, *[read_yaml(p, str(p), self.overlays)
                         for p in self._includes(settings, root)]]
        model = Model(root=str(self.root_dir), env=env,
                      environment=settings.environments.get(env) if env else None)
        for parsed in files:
            if parsed is not root:
                self.diagnostics.extend(parsed.diagnostics)
            self.var_paths = {}
            for var_path in parsed.var_paths:
                split = 1 if var_path[:1] == ("instance",) else 2
                self.var_paths.setdefault(var_path[:split], []).append(var_path[split:])
            self._file(parsed, parsed is root, resolver, model)
        self.diagnostics.extend(resolver.diagnostics)
        if not self.declared["instance"] and not any(stage_of(d.code) is Stage.YAML
                                                     for d in self.diagnostics):
            self.diagnostics.append(error(
                "M305", "no `instance:` is declared", root.span(()),
                "declare the call center with `instance: {name: ..., domain: ...}`"))
        model.declared = {k: set(v) for k, v in self.declared.items()}
        self.diagnostics.extend(run_checks(model, self.root_dir))
        self._hint_variables(files, resolver)
        cache.store_phones(phones.export())
        flows = self._globs(settings.flows, root, "flows", allow_any_suffix=True)
        return LoadResult(model, self.diagnostics, flows)

    def _hint_variables(self, files: list[ParsedFile], resolver: Resolver) -> None:
        """A call-center rule (D4xx) broken by a value that came from `${var.NAME}` says which
        variable, and where the environment defines it, as schema errors do: the fix is
        there, not at the use. Spans are only looked up when such an error exists."""
        wanting = [i for i, d in enumerate(self.diagnostics)
                   if d.span is not None and stage_of(d.code) is Stage.DOMAIN]
        if not wanting or not resolver.origins:
            return
        by_file = {parsed.file: parsed for parsed in files}
        uses: dict[str, list[tuple[Span, str]]] = {}
        for i in wanting:
            d = self.diagnostics[i]
            assert d.span is not None
            if d.span.file not in uses:
                parsed = by_file.get(d.span.file)
                uses[d.span.file] = [] if parsed is None else [
                    (parsed.span(path), name)
                    for (file, path), name in resolver.origins.items() if file == parsed.file]
            start = (d.span.line, d.span.column)
            holding = [(span, name) for span, name in uses[d.span.file]
                       if (span.line, span.column) <= start < (span.end_line, span.end_column)]
            if not holding:
                continue
            _, name = min(holding, key=lambda item: (item[0].end_line - item[0].line,
                                                     item[0].end_column - item[0].column))
            extra = resolver.hint_for(name)
            if extra and extra not in (d.hint or ""):
                self.diagnostics[i] = replace(d, hint=f"{d.hint}; {extra}" if d.hint else extra)

    def _settings(self, root: ParsedFile) -> RootSettings:
        data = {k: v for k, v in root.data.items() if k in ROOT_KEYS}
        try:
            return RootSettings.model_validate(data)
        except ValidationError as exc:
            self._report(exc, root, (), RootSettings, "the root file")
            clean = {k: v for k, v in data.items()
                     if k not in {str(e["loc"][0]) for e in exc.errors() if e["loc"]}}
            try:
                return RootSettings.model_validate(clean)
            except ValidationError:
                return RootSettings()

    def _select_env(self, settings: RootSettings, root: ParsedFile) -> str | None:
        envs = settings.environments
        self._check_env_consistency(settings, root)
        written = root.data.get("environments")
        # Declared but invalid (M202 already reported): not "unknown".
        broken = set(written) - set(envs) if isinstance(written, dict) else set()
        if settings.default_env is not None and settings.default_env not in {*envs, *broken}:
            self.diagnostics.append(error(
                "M204", f"default_env `{settings.default_env}` is not declared under "
                "`environments`", root.span(("default_env",)),
                did_you_mean(settings.default_env, set(envs))))
        if self.env_arg is not None:
            if self.env_arg in broken:
                return None
            if self.env_arg not in envs:
                names = ", ".join(sorted(envs)) or "none"
                self.diagnostics.append(error(
                    "M204", f"unknown environment `{self.env_arg}` (declared: {names})",
                    root.span(("environments",), key=True) if envs else root.span(()),
                    did_you_mean(self.env_arg, set(envs)) or (
                        f"pass a declared one (`--env {min(envs)}`), or declare "
                        f"`{self.env_arg}` under `environments:`" if envs else
                        f"declare `{self.env_arg}` under `environments:`")))
                return None
            return self.env_arg
        if settings.default_env in envs:
            return settings.default_env
        return None

    def _check_env_consistency(self, settings: RootSettings, root: ParsedFile) -> None:
        """Every environment must define the same variables, or a deploy to one breaks."""
        envs = settings.environments
        every = set().union(*(set(e.variables) for e in envs.values())) if envs else set()
        for name, environment in envs.items():
            missing = sorted(every - set(environment.variables))
            if missing:
                self.diagnostics.append(error(
                    "M206", f"environment `{name}` lacks variable(s) {', '.join(missing)} that "
                    "other environments define", root.span(("environments", name), key=True),
                    "define every variable in every environment"))

    def _includes(self, settings: RootSettings, root: ParsedFile) -> list[Path]:
        files = self._globs(settings.include, root, "include", allow_any_suffix=False)
        real_root_file = self.root_file.resolve()
        return [p for p in files if p.resolve() != real_root_file]

    def _globs(self, patterns: list[str], root: ParsedFile, key: str,
               allow_any_suffix: bool) -> list[Path]:
        found: dict[str, Path] = {}
        prefix = os.path.join(str(self.real_root), "")
        # folder -> whether it is its own real path: a regular file (not a link) in such a
        # folder resolves to itself, so it needs one lstat, not a `Path.resolve` per file (which
        # stats every part of the path: 0.05 s of 2,000 flows)
        real_folders: dict[str, bool] = {}
        suffixes = (".ivr",) if allow_any_suffix else (".yaml", ".yml")
        for i, pattern in enumerate(patterns):
            span = root.span((key, i))
            if os.path.isabs(pattern) or ".." in Path(pattern).parts:
                self.diagnostics.append(error(
                    "Y114", f"pattern `{pattern}` leaves the config repo", span,
                    "patterns are relative to the folder of ccc.yaml"))
                continue
            try:
                matches = sorted(self.real_root.glob(pattern))
            except (ValueError, OSError) as exc:
                self.diagnostics.append(error("M202", f"bad pattern `{pattern}`: {exc}", span))
                continue
            hits = 0
            for path in matches:
                text = str(path)
                folder = text.rpartition("/")[0]
                if folder not in real_folders:
                    real_folders[folder] = folder == os.path.realpath(folder)
                plain = text.startswith(prefix) and real_folders[folder]
                try:
                    plain = plain and stat.S_ISREG(os.lstat(text).st_mode)
                except OSError:
                    plain = False
                if plain:  # what the checks below find for a regular file in a real folder
                    rel_text = text[len(prefix):]
                    if (allow_any_suffix or path.suffix in suffixes) and not any(
                            part.startswith(".") for part in rel_text.split("/")[:-1]):
                        hits += 1
                        found.setdefault(rel_text, path)
                    continue
                wanted = path.suffix in suffixes
                if not (path.is_file() or wanted):
                    continue  # a folder that `flows/**` passes through
                if not allow_any_suffix and not wanted:
                    continue
                rel = path.relative_to(self.real_root)
                if any(part.startswith(".") for part in rel.parts[:-1]):
                    continue  # hidden folders (.git, .ccc) are not part of the repo
                try:
                    inside = path.resolve().relative_to(self.real_root)
                except RuntimeError:  # a symlink loop
                    inside = None
                except ValueError:
                    self.diagnostics.append(error("Y114", f"{rel} links outside the repo", span,
                                                  "replace the symlink with the file"))
                    continue
                if inside is None or not path.is_file():  # skipped, but never silently
                    what = ("a symlink loop" if inside is None else "a folder" if path.is_dir()
                            else "a broken symlink" if not path.exists() else "not a regular file")
                    self.diagnostics.append(error(
                        "Y113", f"{rel} matches `{pattern}` but is {what}", span,
                        "rename it, or narrow the pattern"))
                    continue
                if any(part.startswith(".") for part in inside.parts[:-1]):
                    continue  # a link into a hidden folder
                hits += 1
                found.setdefault(rel.as_posix(), path)
            if hits == 0 and key == "include":
                hidden = any(part.startswith(".") for part in Path(pattern).parts)
                self.diagnostics.append(warning(
                    "Y115", f"include pattern `{pattern}` matches no YAML file", span,
                    "files in hidden folders are not part of the repo" if hidden else None))
        return [self.root_dir / rel for rel in sorted(found)]

    # -- resources -------------------------------------------------------------------------

    def _file(self, parsed: ParsedFile, is_root: bool, resolver: Resolver, model: Model) -> None:
        data = parsed.data
        if data is None:
            return
        # With YAML errors (a rejected tag, a duplicate key) values are missing: declare the
        # names, so references to them hold, but don't validate what can't be trusted.
        self.yaml_broken = any(d.is_error for d in parsed.diagnostics)
        if not isinstance(data, dict):
            self.diagnostics.append(error(
                "M202", "a manifest file must be a mapping of kinds (numbers, agents, ...)",
                parsed.span(()), "see docs/manifest.md for the layout"))
            return
        for key, value in data.items():
            if key in ROOT_KEYS:
                if not is_root:
                    self.diagnostics.append(error(
                        "M201", f"`{key}` is only allowed in the root file ccc.yaml",
                        parsed.span((key,), key=True), "move it to ccc.yaml"))
                continue
            if key not in FILE_KEYS:
                self.diagnostics.append(error(
                    "M201", f"unknown key `{key}`", parsed.span((key,), key=True),
                    did_you_mean(key, FILE_KEYS | (ROOT_KEYS if is_root else set()))
                    or "the top-level keys are the resource kinds; see docs/manifest.md"))
                continue
            if key == "instance":
                self._instance(parsed, value, resolver, model)
                continue
            if value is None:
                continue
            if not isinstance(value, dict):
                self.diagnostics.append(error(
                    "M202", f"`{key}` must be a mapping of names to {key.replace('_', ' ')}",
                    parsed.span((key,)), f"write `{key}:` then one `NAME:` per resource"))
                continue
            for name, spec in value.items():
                self._resource(parsed, key, name, spec, resolver, model)

    def _instance(self, parsed: ParsedFile, value: Any, resolver: Resolver,
                  model: Model) -> None:
        path: PathKey = ("instance",)
        if "instance" in self.declared["instance"]:
            first = self.declared["instance"]["instance"]
            self.diagnostics.append(error(
                "M305", "a second `instance:`; a config repo describes one call center",
                parsed.span(path, key=True),
                f"the first is at {first.parsed.span(first.path, key=True)}; use environments "
                "for a staging and a production instance"))
            return
        self.declared["instance"]["instance"] = Source(parsed, path)
        if self.yaml_broken:
            return
        reported = resolver.problems()
        data = resolver.substitute_paths(value, self.var_paths.get(path, []), parsed, path)
        if resolver.problems() > reported:
            return
        instance = self._validate(Instance, data, parsed, path, "instance", resolver)
        if isinstance(instance, Instance):
            model.instance = instance
            model.sources[("instance", instance.name)] = Source(parsed, path)
            model.sources[("instance", "instance")] = Source(parsed, path)

    def _resource(self, parsed: ParsedFile, kind: str, name: str, spec: Any,
                  resolver: Resolver, model: Model) -> None:
        path: PathKey = (kind, name)
        if not NAME_RE.fullmatch(name):
            self.diagnostics.append(error(
                "M202", f"invalid name `{name}`", parsed.span(path, key=True),
                "names are letters, digits, `_`, `-` and `.`, start with a letter or digit, "
                "at most 64 characters"))
            return
        first = self.declared[kind].get(name)
        if first is not None:
            self.diagnostics.append(error(
                "M302", f"duplicate {_label(kind, name)}", parsed.span(path, key=True),
                f"first defined at {first.parsed.span(first.path, key=True)}; names are unique "
                "per kind across all files"))
            return
        self.declared[kind][name] = Source(parsed, path)
        if self.yaml_broken:
            return
        if isinstance(spec, dict) and "name" in spec:
            self.diagnostics.append(error(
                "M201", "unknown key `name`", parsed.span((*path, "name"), key=True),
                f"a resource's name is its key (`{name}:`); remove `name:`"))
            spec = {k: v for k, v in spec.items() if k != "name"}
        reported = resolver.problems()
        data = resolver.substitute_paths(spec, self.var_paths.get(path, []), parsed, path)
        if resolver.problems() > reported:
            return  # a variable could not be resolved; validating the rest would only echo it
        resource = self._validate(KINDS[kind], data, parsed, path, _label(kind, name), resolver)
        if isinstance(resource, Resource):
            resource.name = name
            self._normalize_phones(resource, parsed, path)
            getattr(model, kind)[name] = resource
            model.sources[(kind, name)] = Source(parsed, path)
        elif isinstance(data, dict):
            model.unvalidated[(kind, name)] = (Source(parsed, path), data)

    def _validate(self, cls: type[Spec], data: Any, parsed: ParsedFile, path: PathKey,
                  label: str, resolver: Resolver) -> Spec | None:
        if data is None:
            data = {}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            self._report(exc, parsed, path, cls, label, resolver, data)
            return None

    # -- pydantic errors to diagnostics ----------------------------------------------------

    def _report(self, exc: ValidationError, parsed: ParsedFile, base: PathKey,
                cls: type[BaseModel], label: str, resolver: Resolver | None = None,
                data: Any = None) -> None:
        source = parsed.data
        for part in base:
            source = source.get(part) if isinstance(source, dict) else None
        for err in exc.errors(include_url=False):
            loc = _data_path(err["loc"], data if data is not None else source)
            where = (*base, *loc)
            kind = err["type"]
            last = loc[-1] if loc else None
            dotted = ".".join(str(p) for p in loc)
            secret = any(p in SECRET_FIELDS for p in loc if isinstance(p, str))
            secret_at = next((i for i, p in enumerate(loc) if p in SECRET_FIELDS), len(loc))
            inside = secret_at < len(loc) - 1
            hint: str | None = None
            if inside and kind != "missing":
                # Under `password:`/`token:` the user may have pasted the secret itself (as the
                # variable name, an extra key or its value): D422 never echoes the line or key.
                field_path = ".".join(str(p) for p in loc[: secret_at + 1])
                code, span = "D422", parsed.span(where, key=kind == "extra_forbidden")
                reason = ("only `env` or `file` are allowed" if kind == "extra_forbidden"
                          else _message(err))
                message = f"{label}: `{field_path}` must be a secret reference: {reason}"
                hint = ("write `{env: VARIABLE}` or `{file: path}`; never put a secret's value "
                        "in the config repo")
            elif kind == "missing":
                code, span = "M203", parsed.span(where[:-1], key=True)
                message = f"{label}: missing required key `{dotted}`"
                hint = f"add `{last}:`"
            elif kind == "extra_forbidden":
                code, span = "M201", parsed.span(where, key=True)
                message = f"{label}: unknown key `{dotted}`"
                allowed = _fields_at(cls, loc[:-1])
                hint = did_you_mean(str(last), allowed) if allowed else None
                if hint is None and allowed:
                    hint = "allowed keys: " + ", ".join(sorted(allowed))
                if _SECRET_LIKE.search(str(last)) or (hint or "").endswith(
                        tuple(f"`{f}`?" for f in SECRET_FIELDS)):
                    code = "D422"  # a misspelt `password:` holds a secret: don't echo the line
                    message += ", which looks like a secret"
            elif secret and kind in ("model_type", "model_attributes_type", "dict_type"):
                code, span = "D422", parsed.span(where)
                message = f"{label}: `{dotted}` must be a secret reference, not a value"
                hint = ("write `{env: VARIABLE}` or `{file: path}`; never put a secret's value "
                        "in the config repo")
            else:
                code = "M202"
                span = parsed.span(where, key=err["loc"][-1:] == ("[key]",) or (
                    kind == "value_error" and isinstance(_at(data, loc), dict)))
                message = f"{label}: `{dotted}`: {_message(err)}" if dotted else \
                    f"{label}: {_message(err)}"
            if resolver is not None and loc:
                # The value itself, or a mapping/list it sits in, may come from a variable.
                origin = next((resolver.origins[(parsed.file, where[:n])]
                               for n in range(len(where), len(base), -1)
                               if (parsed.file, where[:n]) in resolver.origins), None)
                if origin is not None:
                    extra = resolver.hint_for(origin)
                    hint = f"{hint}; {extra}" if hint else extra
            self.diagnostics.append(error(code, message, span, hint))

    def _normalize_phones(self, resource: Resource, parsed: ParsedFile, path: PathKey) -> None:
        """Numbers to E.164 through `phonenumbers`; unparseable ones are D419 errors."""

        def norm(text: str, where: PathKey) -> str:
            info = parse_phone(text)
            if isinstance(info, str):
                self.diagnostics.append(error(
                    "D419", f"`{text}` is not a phone number: {info}", parsed.span(where),
                    "write it in E.164 form, e.g. +862161234567"))
                return text
            return info.e164

        if isinstance(resource, Number):
            resource.number = norm(resource.number, (*path, "number"))
        elif isinstance(resource, Agent) and resource.mobile_forwarding is not None:
            forwarding = resource.mobile_forwarding
            forwarding.mobile = norm(forwarding.mobile, (*path, "mobile_forwarding", "mobile"))
        elif isinstance(resource, Blacklist):
            resource.numbers = [norm(n, (*path, "numbers", i))
                                for i, n in enumerate(resource.numbers)]


@lru_cache(maxsize=16)
def _kind_word(kind: str) -> str:
    """`skill_groups` -> `skill group`, `outbound_policies` -> `outbound policy`."""
    word = kind.replace("_", " ")
    return word[:-3] + "y" if word.endswith("ies") else word.removesuffix("s")


def _label(kind: str, name: str) -> str:
    return f"{_kind_word(kind)} `{name}`"


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    """`node[part]` for a mapping key or a list index, else `_ABSENT`."""
    if isinstance(node, dict):
        return node.get(part, _ABSENT) if isinstance(part, str) else _ABSENT
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _at(data: Any, loc: PathKey) -> Any:
    for part in loc:
        data = _child(data, part)
        if data is _ABSENT:
            return None
    return data


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """A pydantic `loc` as a path into the data: drop union member names and the `[key]`
    marker (a bad key is located at the key itself)."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        child = _child(node, part)
        if child is not _ABSENT:
            out.append(part)
            node = child
        elif i == len(loc) - 1 and part != "[key]" and isinstance(node, dict):
            out.append(part)  # a missing or unknown key: located at or under its parent
        else:
            node = None
    return tuple(out)


def _fields_at(cls: type[BaseModel], loc: PathKey) -> set[str]:
    """The keys a model allows at `loc` (for did-you-mean on unknown keys)."""
    current: Any = cls
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return set()
    model = _model_of(current)
    if model is None:
        return set()
    names = set(model.model_fields)
    return names - {"name"} if issubclass(model, Resource) else names


def _model_of(tp: Any) -> type[BaseModel] | None:
    """The model class of an annotation, seeing through Optional and Annotated."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if get_origin(tp) in (dict, list):
        return None
    for arg in get_args(tp):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _descend(tp: Any, part: str | int) -> Any:
    model = _model_of(tp)
    if model is not None and isinstance(part, str) and part in model.model_fields:
        return model.model_fields[part].annotation
    origin = get_origin(tp)
    if origin in (dict, list):
        return get_args(tp)[-1]
    for arg in get_args(tp):
        if get_origin(arg) in (dict, list):
            return get_args(arg)[-1]
    return None


_YAML_TYPES = {str: "text", int: "a number", float: "a number", bool: "a boolean",
               list: "a list", dict: "a mapping", type(None): "nothing"}


def _message(err: Any) -> str:
    msg = str(err["msg"])
    ctx = err.get("ctx") or {}
    got = _YAML_TYPES.get(type(err.get("input")), "something else")
    if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {got}"
    if err["type"] == "list_type":
        return f"expected a list, got {got}"
    if err["type"] == "string_type":
        return f"expected text, got {got}"
    if err["type"] == "string_pattern_mismatch":
        return _FRIENDLY_PATTERNS.get(str(ctx.get("pattern")), msg)
    if err["type"] == "union_tag_invalid":  # `target: {type: lcal}`: say it in our words
        key = str(ctx.get("discriminator", "")).strip("'")
        expected = str(ctx.get("expected_tags", "")).replace("'", "`")
        return f"`{key}: {ctx.get('tag')}` is not a known {key}; expected one of {expected}"
    return msg.removeprefix("Value error, ")


def load_repo(root: Path, env: str | None, overlays: Overlays | None = None) -> LoadResult:
    """Load and validate the config repo at `root` (its folder, or its `ccc.yaml`); a file
    with an overlay (keys: resolved paths) is read from there instead of from disk."""
    root = Path(root)
    if root.is_file() and root.name != ROOT_FILE:  # `ccc validate people.yaml`: not a repo
        return LoadResult(None, [error("Y110", f"{root} is a file, not a config repo",
                                       Span.point(str(root), 1, 1),
                                       f"pass the folder of its config repo (the one holding "
                                       f"{ROOT_FILE}), or that {ROOT_FILE}")])
    if root.is_file():
        root_dir, root_file = root.parent, root
    else:
        root_dir, root_file = root, root / ROOT_FILE
    if not root_dir.is_dir():
        return LoadResult(None, [error("Y110", f"{root_dir} is not a folder",
                                       Span.point(str(root_dir), 1, 1),
                                       "pass the folder of a config repo (it holds ccc.yaml)")])
    if not root_file.is_file():
        return LoadResult(None, [error("Y110", f"no {ROOT_FILE} in this folder",
                                       Span.point(str(root_dir), 1, 1),
                                       "`ccc init` makes a config repo here; or pass a folder "
                                       f"of one (its {ROOT_FILE} marks the root)")])
    return _Loader(root_dir, root_file, env, overlays).load()
