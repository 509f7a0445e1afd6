"""Resource addresses and the desired state: what the config repo says a target should run.

Every manifest resource, the instance and every compiled flow is one `Resource` at an address
`KIND.NAME` (`number.hotline`, `skill_group.sales`, `flow.main`, `instance.AcmeStaging`). Names
are logical, never ids, so one repo deploys to staging and production without id maps.

A resource carries:
- `attributes`: its manifest fields as plain JSON (secrets only as references such as
  `{"env": "ACME_TRUNK_PASSWORD"}`; the repo never holds a value);
- `hashes`: content hashes (a flow's bytecode hash without its line table and source hash, so a
  `ccc fmt`-only change is no change; a prompt's audio sha256 per file);
- `depends_on`: the addresses it references (the plan orders steps by them);
- `runtime`: its slice of the deployed bundle (`bundle.json`, `manifest.json` entries), which
  refresh compares against what a target really runs to find drift;
- `graph`: for flows, a compact summary of the flow graph (flowdiff.py) kept in the state so a
  later plan can say what changed in flow terms.

Each resource has one canonical form, `canonical(resource.to_json())`: compact JSON with sorted
keys on one line (`address` first). `Resources` keeps resources in that form and builds a
`Resource` only when one is read, so a plan of 10,000 resources compares 10,000 byte strings
and decodes only the ones that differ. The desired state (desired.py) builds them from the
repo; this module is what plan, state and apply share, and imports nothing heavy (no compiler,
no manifest models), because a warm `ccc plan` must not pay for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

BUNDLE_JSON, MANIFEST_JSON = "bundle.json", "manifest.json"
"""ccc_runtime.bundle's BUNDLE_FILE and MANIFEST_FILE (that module imports pydantic; tests
check the names agree)."""


def address(kind: str, name: str) -> str:
    return f"{kind}.{name}"


def split_address(addr: str) -> tuple[str, str]:
    """`number.hotline` -> (`number`, `hotline`); names may hold dots, kinds never do."""
    kind, _, name = addr.partition(".")
    return kind, name


@dataclass
class Resource:
    """One resource as desired (from the repo) or as recorded (in the state)."""

    address: str
    attributes: dict[str, Any]
    hashes: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    runtime: dict[str, Any] = field(default_factory=dict)
    """Locator (`bundle.json:agents/alice`) -> the value there, for drift."""
    source: str | None = None
    """Where it is written, repo-relative `file:line:col`: kept for flows and for resources
    with prevent_destroy (S901 points there, even after the resource left the repo)."""
    prevent_destroy: bool = False
    graph: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return split_address(self.address)[0]

    @property
    def name(self) -> str:
        return split_address(self.address)[1]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"address": self.address, "attributes": self.attributes,
                               "hashes": self.hashes, "depends_on": self.depends_on,
                               "runtime": self.runtime, "source": self.source,
                               "prevent_destroy": self.prevent_destroy}
        if self.graph is not None:
            doc["graph"] = self.graph
        return doc

    def line(self) -> bytes:
        """The canonical form: what the state stores and what plans compare."""
        return canonical(self.to_json())

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], secrets: bool = True) -> Resource:
        """A recorded resource; a secret reference that is not surely a variable name (a state
        written before validation caught a pasted key) is hidden before anything can print it.
        `secrets=False`: the caller knows the document holds no `{"env": ...}` reference."""
        attributes, runtime = dict(doc["attributes"]), dict(doc.get("runtime", {}))
        if secrets:
            attributes, runtime = _hide_pasted(attributes), _hide_pasted(runtime)
        return cls(str(doc["address"]), attributes, dict(doc.get("hashes", {})),
                   list(doc.get("depends_on", [])), runtime, doc.get("source"),
                   bool(doc.get("prevent_destroy", False)), doc.get("graph"))

    @classmethod
    def from_line(cls, line: bytes) -> Resource:
        """A resource from its canonical form (ValueError, KeyError, TypeError when it is not
        one); the secret check runs only when the line holds a reference at all."""
        doc = json.loads(line)
        if not isinstance(doc, dict):
            raise TypeError("a resource is a JSON object")
        return cls.from_json(doc, secrets=b'"env":' in line)


_ADDRESS_HEAD = b'{"address":"'


def lines_by_address(lines: list[bytes]) -> dict[str, bytes] | None:
    """Canonical lines by the address each starts with, read without decoding the rest; None
    when any line doesn't look like one (no address first, a line break, an escape in the
    address, an address twice): the caller then decodes the document whole."""
    head = len(_ADDRESS_HEAD)
    try:
        found = {line[head:line.index(b'"', head)]: line for line in lines
                 if line.startswith(_ADDRESS_HEAD) and line.endswith(b"}")}
    except ValueError:  # no closing quote
        return None
    if len(found) != len(lines) or any(b"\\" in a or b"\n" in line
                                       for a, line in found.items()):
        return None
    try:
        return {a.decode("utf-8"): line for a, line in found.items()}
    except UnicodeDecodeError:
        return None


class ResourceError(ValueError):
    """A resource line of a state that doesn't decode (a hand edit)."""


class Resources(MutableMapping[str, Resource]):
    """Resources by address, kept as canonical lines and decoded on first read (then kept).
    `line(addr)` is the canonical form whether or not it was decoded, so equal lines mean an
    unchanged resource without decoding either. A line that doesn't decode raises ValueError
    (ResourceError) naming the address when it is read."""

    def __init__(self, lines: Mapping[str, bytes] | None = None,
                 objects: Iterable[Resource] = ()) -> None:
        self._lines: dict[str, bytes] = dict(lines or {})
        self._built: dict[str, Resource] = {}
        for resource in objects:
            self[resource.address] = resource

    @classmethod
    def of(cls, resources: Mapping[str, Resource]) -> Resources:
        return resources if isinstance(resources, Resources) else cls(
            objects=resources.values())

    def line(self, addr: str) -> bytes:
        return self._lines[addr]

    def lines(self) -> Mapping[str, bytes]:
        """Every canonical line by address (not to be changed: a view of what is kept)."""
        return self._lines

    def __getitem__(self, addr: str) -> Resource:
        built = self._built.get(addr)
        if built is None:
            line = self._lines[addr]
            try:
                built = Resource.from_line(line)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ResourceError(f"resource {addr}: not a valid resource ({exc})") from None
            self._built[addr] = built
        return built

    def __setitem__(self, addr: str, resource: Resource) -> None:
        self._lines[addr] = resource.line()
        self._built[addr] = resource

    def __delitem__(self, addr: str) -> None:
        del self._lines[addr]
        self._built.pop(addr, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, addr: object) -> bool:
        return addr in self._lines

    def copy(self) -> Resources:
        new = Resources(self._lines)
        new._built = dict(self._built)
        return new


HIDDEN_REF = "<hidden: not a variable name>"
"""What a plan shows for an `env` reference that may hold the secret itself."""


def _hide_pasted(value: Any, depth: int = 0) -> Any:
    """`value` with the `env` of every `token:`/`password:` reference that fails is_env_name
    replaced by HIDDEN_REF."""
    from ccc_dsl.manifest.loader import SECRET_FIELDS  # heavy: only for a line with a reference
    from ccc_dsl.manifest.model import is_env_name

    if depth > 64:  # state files are bounded on load; this only guards the recursion
        return value
    if isinstance(value, dict):
        out = {k: _hide_pasted(v, depth + 1) for k, v in value.items()}
        for key in SECRET_FIELDS & out.keys():
            ref = out[key]
            if isinstance(ref, dict) and isinstance(ref.get("env"), str) and not is_env_name(
                    ref["env"]):
                out[key] = {**ref, "env": HIDDEN_REF}
        return out
    if isinstance(value, list):
        return [_hide_pasted(v, depth + 1) for v in value]
    return value


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What `json.dumps(value, sort_keys=True, ...)` makes, without a new encoder per call (a
cold plan encodes every resource)."""


def canonical(value: Any) -> bytes:
    """Deterministic JSON bytes of a value (for hashes and checksums)."""
    return _CANONICAL.encode(value).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_json_file(files: Mapping[str, bytes], name: str) -> Any:
    """A JSON file of a bundle, or None when absent or unreadable (a hand edit)."""
    data = files.get(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def runtime_values(locators: list[str], docs: Mapping[str, Any]) -> dict[str, Any]:
    """Each locator (`FILE:key/key`) looked up in the parsed bundle files (None if absent)."""
    out: dict[str, Any] = {}
    for loc in locators:
        file, _, path = loc.partition(":")
        node = docs.get(file)
        for part in path.split("/") if path else []:
            node = node.get(part) if isinstance(node, dict) else None
        out[loc] = node
    return out


def bundle_docs(files: Mapping[str, bytes]) -> dict[str, Any]:
    """The parsed JSON files of a bundle that locators point into."""
    return {BUNDLE_JSON: read_json_file(files, BUNDLE_JSON),
            MANIFEST_JSON: read_json_file(files, MANIFEST_JSON)}


