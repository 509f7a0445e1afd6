"""The runtime: bytecode interpreter, ACD and channels. Imports nothing of ccc_dsl."""
