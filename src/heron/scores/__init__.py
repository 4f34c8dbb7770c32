"""Scores: validation of incoming scores (explicit feedback, evaluations, annotations)."""

from heron.scores.parse import DATA_TYPES, ScoreError, ScoreLimits, ScoreRecord, parse_score

__all__ = ["DATA_TYPES", "ScoreError", "ScoreLimits", "ScoreRecord", "parse_score"]
