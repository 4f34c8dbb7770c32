"""OTLP ingest: decode export requests (:mod:`heron.ingest.otlp`) and map spans to heron records
(:mod:`heron.ingest.conventions`).

The mapping is documented in ``docs/conventions.md``.
"""
