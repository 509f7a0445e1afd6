"""The plan for machines: versioned JSON (docs/deploy.md, "Plan JSON"), like
`terraform show -json`."""

from __future__ import annotations

import json

from ccc_dsl.deploy.plan import Plan


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
