"""Pages: sessions (list and conversation view) and users (list and a user's sessions)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
