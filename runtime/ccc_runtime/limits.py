"""Every size, depth and time bound that keeps hostile input harmless, in one place.

Flow authors, function replies and callers' key presses all reach the VM, the pattern matcher
and the template renderer. Each bound here is enforced by construction (the code can't exceed
it), not by a timer; docs/security.md lists them with the same numbers.
"""

from __future__ import annotations

from typing import Final

# -- `collect ... pattern "..."`: RE2, linear in the digits, memory bounded per pattern
MAX_PATTERN_CHARS: Final = 256
"""Longest regular expression a flow may give `collect ... pattern`."""
PATTERN_MAX_MEM: Final = 1 << 20
"""Bytes RE2 may use for one compiled pattern (its automaton); more is a compile error."""

# -- TTS templates (`say "... {{ result.balance }}"`), jinja2 sandbox
MAX_RENDERED_CHARS: Final = 4000
"""Characters one rendered template may produce (about four minutes of speech)."""
MAX_TEMPLATE_LOOP_ITERATIONS: Final = 10_000
"""Loop iterations one render may run, over all `{% for %}` loops together."""
MAX_TEMPLATE_INT_BITS: Final = 256
"""Bits of a number a template's arithmetic may make (`**` is refused at compile time)."""
MAX_TEMPLATE_SOURCE_CHARS: Final = 8000
"""Longest template source the compiler and the runtime accept."""
MAX_TEMPLATE_TAG_TOKENS: Final = 100
"""Tokens in one `{{ }}` or `{% %}` tag: bounds how deep the template parser recurses."""
MAX_TEMPLATE_DEPTH: Final = 16
"""How deep brackets may nest in a template."""

# -- values in call variables (`set`, `collect`, function results)
MAX_VALUE_DEPTH: Final = 32
"""Nesting of lists/maps in one value (`set x = [x, ...]` in a loop stops here)."""
MAX_VALUE_NODES: Final = 10_000
"""Scalars, lists and maps in one value, counted over the whole tree."""
MAX_VALUE_CHARS: Final = 65_536
"""Characters of all strings in one value together."""
MAX_FUNCTION_RETRIES: Final = 3
"""`retries N` on a function call: at most this many (P206 beyond)."""
MAX_FUNCTION_TIMEOUT_MS: Final = 60_000
"""The longest timeout of one attempt (a flow's `timeout`, the manifest's `timeout_seconds`)."""
