"""ccc-dsl: call-center configuration as code and IVR compiler."""

__version__ = "0.1.0"
