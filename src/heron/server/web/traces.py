"""Pages: the trace list (filters, search, sort, pages) and the trace detail."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
