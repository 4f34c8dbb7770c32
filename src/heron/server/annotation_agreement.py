"""Inter-annotator agreement of an annotation queue over HTTP:
``GET /api/annotation-queues/{id}/agreement`` (API key, scoped to its project), and the data
of the agreement panel on the queue page (:func:`queue_agreement`, shared by both).

Per score config of the queue: how many items two or more people rated, Cohen's kappa
(the mean over pairs of raters with more than two), percent agreement, and for NUMERIC
configs a quadratic-weighted kappa; see :mod:`heron.annotation.agreement`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from heron.annotation.agreement import config_agreement
from heron.errors import NotFound
from heron.server import schemas
from heron.server.api import caller, consistent
from heron.server.auth import Caller
from heron.server.responses import JSON
from heron.server.state import state_of
from heron.store import Store

router = APIRouter(
    tags=["annotation queues"],
    dependencies=[Depends(consistent)],
    responses={401: {"model": schemas.Error}, 404: {"model": schemas.Error}},
)


def queue_agreement(store: Store, project_id: str, queue: dict[str, Any]) -> dict[str, Any]:
    """``{queueId, annotationsPerItem, configs: [{configId, name, dataType, items, raters,
    percentAgreement, kappa, weightedKappa, reason}]}`` over the queue's ANNOTATION scores."""
    found = store.score_configs_by_id(project_id, queue["score_config_ids"])
    configs = [found[c] for c in queue["score_config_ids"] if c in found]
    scores = store.queue_scores(project_id, queue["id"], [c["id"] for c in configs])
    return {
        "queueId": queue["id"],
        "annotationsPerItem": queue["annotations_per_item"],
        "configs": config_agreement(configs, scores),
    }


@router.get(
    "/api/annotation-queues/{queue_id}/agreement",
    summary="Inter-annotator agreement of a queue, per score config",
)
async def agreement(request: Request, queue_id: str, who: Caller = Depends(caller)) -> Response:
    """Cohen's kappa and percent agreement per score config, over the items two or more
    people annotated (``reason`` says why a figure is missing: not enough data, one value)."""
    store = state_of(request).store

    def run() -> dict[str, Any]:
        queue = store.get_annotation_queue(who.project_id, queue_id)
        if queue is None or queue["id"] != queue_id:
            raise NotFound(f"annotation queue {queue_id[:100]!r} not found in this project")
        return queue_agreement(store, who.project_id, queue)

    return JSON(await run_in_threadpool(run))
