"""Domain types shared by ingest, store, query and server."""

from heron.model.records import (
    LEVEL_RANK,
    Level,
    ObservationRecord,
    ObservationType,
    TraceUpdate,
)

__all__ = ["LEVEL_RANK", "Level", "ObservationRecord", "ObservationType", "TraceUpdate"]
