"""Experiments: runs of a dataset compared item by item, to show whether a change worked.

``compare_runs`` answers "did the candidate run do better than the baseline?" with paired
statistics per score and per measure (:mod:`heron.compare.paired`); ``summarize_runs`` gives
each run's aggregates; ``rank_items`` and ``item_page`` the items side by side, those that
got worse first. The data comes from ``Store.experiment_runs`` (docs/experiments.md).
"""

from heron.experiments.compare import Options, compare_runs, summarize_runs
from heron.experiments.items import item_page, rank_items

__all__ = ["Options", "compare_runs", "item_page", "rank_items", "summarize_runs"]
