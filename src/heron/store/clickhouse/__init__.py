"""The ClickHouse half of the scale-out backend: events (traces, observations, scores).

``client.connect`` opens a clickhouse-connect client from a URL, ``migrations.migrate``
brings the schema (``schema.MIGRATIONS``) up to date, ``events.ClickHouseEvents`` offers
EmbeddedStore's event methods over it: writes in ``writes`` and ``scores``; trace and
observation reads in ``reads``; sessions and users in ``groups``; metrics queries in
``metrics``; score reads and deletes in ``score_reads``; the Prometheus export's totals in
``totals``; Langfuse's read API in ``langfuse_reads``; comments in ``comments``; what
annotation, alignment and error analysis read in ``annotation_reads``.
"""

from heron.store.clickhouse.events import ClickHouseEvents

__all__ = ["ClickHouseEvents"]
