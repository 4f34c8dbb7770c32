"""The heron SDK: tracing for LLM applications on top of OpenTelemetry.

The public names are re-exported by :mod:`heron`; see ``docs/sdk.md``.
"""
