"""Reading the API with a key, as a client would: one answer, or every page of a list."""

from __future__ import annotations

from starlette.testclient import TestClient


def get(client: TestClient, key: str, path: str, **params) -> dict:
    """The JSON of a 200 answer to ``GET path`` with ``key`` (asserted 200)."""
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def walk(client: TestClient, key: str, path: str, **params) -> list[dict]:
    """Every row of a list, following ``next_cursor``; no page longer than its limit."""
    rows, cursor = [], None
    while True:
        page = get(client, key, path, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["results"]) <= int(params.get("limit", 50))
        rows += page["results"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows
