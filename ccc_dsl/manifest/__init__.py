"""Manifests: YAML loading with positions, the pydantic model, and domain checks."""

ROOT_FILE = "ccc.yaml"
"""The file that marks a config repo's root (here, so that finding a repo imports no loader)."""
