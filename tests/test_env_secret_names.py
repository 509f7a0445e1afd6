"""Issue 11: a secret pasted into `{env: ...}` is D422 and never printed. An `env` reference
must look like a variable's name, not a key (known prefixes, long mixed-case-and-digit runs);
a state recorded before this check shows such a reference hidden, never its text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from repos import copy_examples

from ccc_dsl.cli import cli
from ccc_dsl.deploy.resources import HIDDEN_REF, Resource
from ccc_dsl.manifest.model import is_env_name

PASTED = ["sk_live_51HxQ2eKZvbF3gSUPERSECRET", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
          "AKIAIOSFODNN7EXAMPLE", "xoxb_123456789012_abcdefABCDEF",
          "Zq8xR2vL9mK4pT7wN3bY6cH1"]


@pytest.mark.parametrize("name", ["ACME_LOOKUP_TOKEN", "sip_password", "_X", "TRUNK_PASSWORD_2",
                                  "MyToken", "ACME_SIP_PASSWORD_FOR_STAGING_TRUNK",
                                  "NPM_TOKEN", "ASIA_TRUNK_PASSWORD", "XOX_TOKEN"])
def test_variable_names_pass(name: str) -> None:
    assert is_env_name(name)


@pytest.mark.parametrize("value", [*PASTED, "has-hyphen", "2STARTS_WITH_DIGIT", "with space"])
def test_secrets_and_non_names_fail(value: str) -> None:
    assert not is_env_name(value)


@pytest.mark.parametrize("secret", PASTED)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_pasted_key_is_d422_and_never_echoed(tmp_path: Path, secret: str, fmt: str) -> None:
    repo = copy_examples(tmp_path / "r")
    functions = repo / "functions.yaml"
    text = functions.read_text(encoding="utf-8")
    assert "{env: ACME_LOOKUP_TOKEN}" in text
    functions.write_text(text.replace("{env: ACME_LOOKUP_TOKEN}", f"{{env: {secret}}}", 1),
                         encoding="utf-8")
    for command in (["validate", str(repo), "--format", fmt], ["plan", str(repo)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1, result.output
        assert "D422" in result.output
        assert secret not in result.output


def test_a_recorded_pasted_reference_is_hidden() -> None:
    recorded = Resource.from_json({
        "address": "function.lookup",
        "attributes": {"url": "https://x", "token": {"env": PASTED[0], "file": None}},
        "runtime": {"bundle.json:functions/lookup": {"token": {"env": "ACME_LOOKUP_TOKEN"}}},
    })
    assert recorded.attributes["token"] == {"env": HIDDEN_REF, "file": None}
    assert recorded.runtime["bundle.json:functions/lookup"]["token"]["env"] == "ACME_LOOKUP_TOKEN"
    assert PASTED[0] not in repr(recorded.to_json())
