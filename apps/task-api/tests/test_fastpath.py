"""GET /tasks is served by ListFastPath, and answers exactly what the FastAPI route answers."""

from __future__ import annotations

import pytest
from task_api import fastpath
from task_api.app import create_app
from task_api.fastpath import ListFastPath

# Query strings covering a page, every filter, repeated and unknown names, and each kind of 422.
QUERIES = [
    "",
    "limit=1",
    "limit=1&offset=1",
    "offset=3",
    "status=done",
    "due_before=2026-03-01&due_after=2026-03-01",
    "limit=5&limit=1&colour=red",
    "limit=0",
    "limit=abc",
    "offset=-1",
    "status=doing",
    "due_before=yesterday",
    "limit=",
]


@pytest.fixture(scope="module")
def clients(make_settings):
    """The app as served, and the same app without the fast path (FastAPI's route answers)."""
    from fastapi.testclient import TestClient

    with_fast = create_app(make_settings())
    without = create_app(make_settings())
    without.user_middleware = [m for m in without.user_middleware if m.cls is not ListFastPath]
    assert len(without.user_middleware) == len(with_fast.user_middleware) - 1
    with TestClient(with_fast) as fast_client, TestClient(without) as route_client:
        yield fast_client, route_client


def comparable(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, headers, response.content


def test_get_tasks_is_served_by_the_fast_path(clients, tokens, user, monkeypatch):
    fast_client, _route_client = clients
    calls = []
    real = fastpath.list_page

    async def counting(*args):
        calls.append(args)
        return await real(*args)

    monkeypatch.setattr(fastpath, "list_page", counting)
    assert fast_client.get("/tasks", headers=tokens.headers(user)).status_code == 200
    assert len(calls) == 1
    # Anything but exactly GET /tasks goes to FastAPI.
    assert fast_client.get("/tasks/", headers=tokens.headers(user), follow_redirects=False).status_code == 307
    assert fast_client.post("/tasks", json={"title": "not listed"}, headers=tokens.headers(user)).status_code == 201
    assert fast_client.head("/tasks", headers=tokens.headers(user)).status_code == 405
    assert len(calls) == 1


@pytest.mark.parametrize("query", QUERIES)
def test_fast_path_answers_what_the_route_answers(clients, tokens, user, query):
    fast_client, route_client = clients
    headers = tokens.headers(user)
    for title, status, due in (("first", "todo", "2026-03-01"), ("second", "done", None), ("third", "todo", None)):
        body = {"title": title, "status": status, "due_date": due}
        assert route_client.post("/tasks", json=body, headers=headers).status_code == 201
    fast = fast_client.get(f"/tasks?{query}", headers=headers)
    route = route_client.get(f"/tasks?{query}", headers=headers)
    assert comparable(fast) == comparable(route), query
    assert fast.status_code in (200, 422), fast.text


def test_fast_path_is_behind_the_auth_guard(clients):
    fast_client, route_client = clients
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        fast = fast_client.get("/tasks", headers=headers)
        assert fast.status_code == 401
        assert comparable(fast) == comparable(route_client.get("/tasks", headers=headers))


def test_fast_path_is_counted_under_the_route_template(clients, tokens, user):
    fast_client, _route_client = clients
    fast_client.get("/tasks", headers=tokens.headers(user))
    fast_client.get("/tasks?limit=0", headers=tokens.headers(user))
    text = fast_client.get("/metrics").text
    assert 'task_api_http_requests_total{method="GET",route="/tasks",status="200"}' in text
    assert 'task_api_http_requests_total{method="GET",route="/tasks",status="422"}' in text


def test_a_repeated_query_still_reads_the_database_every_time(clients, tokens, user):
    """The fast path remembers parsed query strings, never pages: a write shows at once."""
    fast_client, route_client = clients
    headers = tokens.headers(user)
    seen = []
    for i in range(3):
        assert fast_client.get("/tasks?limit=2&limit=5", headers=headers).status_code == 200
        seen.append([t["title"] for t in fast_client.get("/tasks?limit=5", headers=headers).json()["items"]])
        assert route_client.post("/tasks", json={"title": f"write {i}"}, headers=headers).status_code == 201
    assert seen == [[], ["write 0"], ["write 1", "write 0"]]
    # Another user with the same query string gets their own page; an invalid one stays a 422.
    other = tokens.headers(f"{user}-other")
    assert fast_client.get("/tasks?limit=5", headers=other).json()["items"] == []
    for _unused in range(2):
        assert fast_client.get("/tasks?limit=0", headers=headers).status_code == 422
