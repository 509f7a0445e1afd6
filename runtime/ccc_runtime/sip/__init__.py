"""Our asyncio SIP user agent: messages and SDP, one UDP endpoint with transactions and
dialogs, RTP media with a shared 20 ms ticker, G.711, DTMF, and prompt audio.

The layers only depend downwards (message -> transaction/endpoint -> media), so a REGISTER
client or a benchmark can reuse the endpoint without the call logic (docs/runtime.md,
"The SIP stack")."""

DEFAULT_RTP_PORTS = (40000, 41000)
"""UDP ports `ccc serve` takes media ports from, unless told otherwise (`--rtp-ports`); here,
not in rtp.py, so a command line can show it without importing the stack (asyncio)."""
