"""A bundle's content address: the sha256 of every file and a digest over them, written as
`manifest.json` (bundle.py reads it back; rundir.py names installed bundles by it). Apart from
bundle.py, which validates with pydantic, so that a compiler writing a cached bundle imports
neither."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

BUNDLE_FILE = "bundle.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1


def _file_hashes(files: Mapping[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(data).hexdigest()
            for rel, data in sorted(files.items()) if rel != MANIFEST_FILE}


def digest_of(hashes: Mapping[str, str]) -> str:
    """The digest over files' hashes (path -> sha256)."""
    text = "".join(f"{rel}\0{sha}\n" for rel, sha in sorted(hashes.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bundle_digest(files: Mapping[str, bytes]) -> str:
    """The content address of a bundle's files (manifest.json itself left out)."""
    return digest_of(_file_hashes(files))


def manifest_bytes(files: Mapping[str, bytes]) -> bytes:
    """manifest.json for a bundle's other files (deterministic)."""
    hashes = _file_hashes(files)
    doc = {"format": MANIFEST_FORMAT, "digest": digest_of(hashes), "files": hashes}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
