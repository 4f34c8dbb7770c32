"""Datasets: named collections of items (an input, an expected output, metadata), versioned,
for experiments (Langfuse's shape).

- :mod:`.spec`: what a client may send for a dataset, an item and a run item, checked.
- :mod:`.validation`: the dataset's JSON Schemas, checked when set and applied to items.
- :mod:`.io`: import and export as JSONL and CSV.
- :mod:`.from_traces`: items copied from traces and observations.

Storage is :mod:`heron.store.datasets`; the API :mod:`heron.server.datasets`.
"""
