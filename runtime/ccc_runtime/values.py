"""Size and depth of call variables, measured without recursion.

A flow can build values from values (`set x = [x, x]` doubles per key press while sharing its
halves), and a function's reply is the customer's JSON. Every value the VM stores is measured
here first, with a walk that stops as soon as a limit is passed: the work is bounded by the
limits, never by the value (a shared-halves value of 2^40 nodes costs MAX_VALUE_NODES steps).
"""

from __future__ import annotations

import re
from typing import Any, Final

from .limits import MAX_VALUE_CHARS, MAX_VALUE_DEPTH, MAX_VALUE_NODES

_JSON_PLAIN: Final = re.compile(rb'[^\[\]{}"\\]+')


def value_problem(value: Any) -> str | None:
    """Why `value` is too large or too deep to keep in a call variable, or None."""
    nodes = chars = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_VALUE_NODES:
            return f"the value has over {MAX_VALUE_NODES} items"
        if isinstance(item, str):
            chars += len(item)
            if chars > MAX_VALUE_CHARS:
                return f"the value has over {MAX_VALUE_CHARS} characters"
        elif isinstance(item, list | tuple | dict):
            if depth > MAX_VALUE_DEPTH:
                return f"the value is nested over {MAX_VALUE_DEPTH} deep"
            if nodes + len(stack) + len(item) > MAX_VALUE_NODES:  # each one counts, later
                return f"the value has over {MAX_VALUE_NODES} items"
            if isinstance(item, dict):
                for key, sub in item.items():
                    chars += len(str(key))
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)
    return None


def json_too_deep(raw: bytes) -> bool:
    """Whether JSON text nests brackets deeper than MAX_VALUE_DEPTH (checked before
    `json.loads`, whose parser recurses per bracket)."""
    depth = 0
    in_string = escaped = False
    for byte in _JSON_PLAIN.sub(b"", raw):  # quotes, backslashes and brackets only
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > MAX_VALUE_DEPTH:
                return True
        elif byte in b"]}":
            depth -= 1
    return False
