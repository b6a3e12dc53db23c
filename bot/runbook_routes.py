"""HTTP routes over the runbook library: `GET /api/v1/runbooks/search`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from bot.app import Services


def build_runbook_router(services: Services) -> APIRouter:
    """Runbook search for API clients, with the shape of `ballast runbooks search --json`."""
    router = APIRouter()

    @router.get("/api/v1/runbooks/search", tags=["runbooks"])
    def search(q: str = Query(min_length=1, max_length=4000, description="what is going wrong"),
               top: int = Query(5, ge=1, le=50)) -> dict[str, Any]:
        """Runbooks ranked for the text (hybrid lexical and dense; an alert name that names one wins)."""
        library = services.runbook_library
        if library is None:
            raise HTTPException(503, "no runbooks are indexed yet: set BALLAST_RUNBOOK_DIRS or run `ballast runbooks index DIR`")
        return {"query": q, "matches": [m.to_json() for m in library.search(q, top)]}

    return router
