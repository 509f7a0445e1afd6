"""The IVR language: grammar, typed AST, parser and formatter."""
