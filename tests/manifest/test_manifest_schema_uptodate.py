"""The schemas shipped in the package (and schemas/, the checkout's link to them) must equal
what the models generate now; editors validate with them."""

from __future__ import annotations

import json

from mf_helpers import REPO

from ccc_dsl.manifest.schema import PACKAGED, render_all


def test_schemas_are_up_to_date() -> None:
    assert (REPO / "schemas").resolve() == PACKAGED  # one truth: the checkout links to it
    for name, text in render_all().items():
        for path in (PACKAGED / name, REPO / "schemas" / name):
            assert path.exists(), f"{path} is missing: run python -m ccc_dsl.manifest.schema"
            assert path.read_text(encoding="utf-8") == text, (
                f"{path} is out of date: run python -m ccc_dsl.manifest.schema")


def test_schema_describes_every_kind_and_allows_variables() -> None:
    schema = json.loads(render_all()["manifest.schema.json"])
    assert set(schema["properties"]) == {
        "instance", "numbers", "skill_groups", "agents", "schedules", "prompts", "functions",
        "flow_bindings", "blacklists", "outbound_policies", "trunks"}
    agent = schema["$defs"]["Agent"]
    assert agent["additionalProperties"] is False
    assert "name" not in agent["properties"]  # a resource's name is its YAML key
    port = schema["$defs"]["Trunk"]["properties"]["port"]
    assert any(option.get("pattern", "").startswith("^\\$\\{var") for option in port["anyOf"])
    root = json.loads(render_all()["ccc.schema.json"])
    assert {"include", "environments", "default_env", "agents"} <= set(root["properties"])
