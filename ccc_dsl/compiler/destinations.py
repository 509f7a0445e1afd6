"""Compile-time checks of literal transfer destinations that the outbound policy governs.

The runtime's toll-fraud guard (ccc_runtime.outbound) decides every outbound leg at call time;
a destination written as a literal is checked here too, so a flow that can only be refused fails
`ccc validate` instead of a caller: a `transfer sip` host the policy's `sip_domains` doesn't
list (R517), and a `caller_id` the policy would never show (R518). The rules are the guard's:
the same host matching (ccc_runtime.sipuri) and the same caller-id rule (the policy's `fixed`
number, or with `auto` any of the instance's numbers but 400 numbers).
"""

from __future__ import annotations

from ccc_runtime.sipuri import host_allowed, parse_sip_target

from ccc_dsl.diagnostics import Diagnostic, error
from ccc_dsl.grammar import ast
from ccc_dsl.manifest.model import Model, OutboundPolicy
from ccc_dsl.manifest.phones import PhoneInfo, parse_phone
from ccc_dsl.util import did_you_mean


def _policy(model: Model) -> OutboundPolicy | None:
    name = model.instance.outbound_policy if model.instance else None
    return model.outbound_policies.get(name) if name else None


def check_transfer(node: ast.TransferNumber | ast.TransferSip, model: Model) -> list[Diagnostic]:
    """R517 for a literal SIP URI on a host the policy doesn't list; R518 for a literal caller
    id the policy doesn't allow. Values from data are the runtime's to check."""
    out: list[Diagnostic] = []
    policy = _policy(model)
    if isinstance(node, ast.TransferSip):
        uri = node.uri
        if isinstance(uri, ast.Literal) and isinstance(uri.value, str):
            target = parse_sip_target(uri.value)  # not a URI at all: P221 already said so
            if not isinstance(target, str):
                if policy is None:
                    out.append(error("R517", "`transfer sip` needs an outbound policy whose "
                                     "`sip_domains` lists the host", uri.span,
                                     "set `instance.outbound_policy` and list the host under "
                                     "its `sip_domains`"))
                elif not host_allowed(target.host, policy.sip_domains):
                    listed = ", ".join(policy.sip_domains) or "none"
                    out.append(error(
                        "R517", f"SIP host `{target.host}` is not in the `sip_domains` of "
                        f"outbound policy `{policy.name}` (listed: {listed})", uri.span,
                        did_you_mean(target.host, policy.sip_domains)
                        or f"add `{target.host}` to the policy's `sip_domains`"))
    caller_id = node.caller_id
    if isinstance(caller_id, ast.Literal) and isinstance(caller_id.value, str):
        problem = caller_id_problem(caller_id.value, model, policy)
        if problem is not None:
            out.append(error("R518", problem[0], caller_id.span, problem[1]))
    return out


def caller_id_problem(text: str, model: Model,
                      policy: OutboundPolicy | None) -> tuple[str, str] | None:
    """(message, hint) when the policy would refuse to show `text` as the caller id."""
    info = parse_phone(text)
    e164 = info.e164 if isinstance(info, PhoneInfo) else None
    own = next((n for n in model.numbers.values() if n.number == e164), None)
    if own is None:
        return (f"caller id `{text}` is not one of the instance's numbers",
                "show one of the numbers under `numbers:` (a callee sees it and calls back)")
    if own.type == "400":
        return (f"caller id `{text}` is a 400 number, which is never shown as a caller id",
                "use a landline or mobile number of the instance")
    if policy is not None and policy.caller_id.mode == "fixed":
        fixed = parse_phone(policy.caller_id.number or "")
        if not isinstance(fixed, PhoneInfo) or fixed.e164 != e164:
            return (f"outbound policy `{policy.name}` shows only its fixed caller id "
                    f"{policy.caller_id.number}", "remove `caller_id`, or set the policy's "
                    "caller_id mode to `auto`")
    return None
