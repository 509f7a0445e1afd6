"""Manifests: YAML loading with positions, the pydantic model, and domain checks."""
