"""The runtime: bytecode interpreter, ACD and channels. Imports nothing of ccc_dsl."""

import logging

# A library logs; the program decides where it goes. Without a handler here Python's last-resort
# handler would print every warning (a refused outbound call a flow test expects) onto the
# terminal of `ccc test` and `ccc simulate`; `ccc serve` configures logging for itself.
logging.getLogger("ccc_runtime").addHandler(logging.NullHandler())
