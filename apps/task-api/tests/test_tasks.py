"""Happy paths for every task endpoint, ownership and the admin role."""

from __future__ import annotations

import uuid

from task_api_dev.services import ADMIN_ROLE


def create(client, headers, **fields):
    body = {"title": "write tests", **fields}
    response = client.post("/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_task_with_defaults(client, tokens, user):
    task = create(client, tokens.headers(user))
    assert task["owner"] == user
    assert task["title"] == "write tests"
    assert task["description"] == ""
    assert task["status"] == "todo"
    assert task["due_date"] is None
    uuid.UUID(task["id"])
    assert task["created_at"] == task["updated_at"]


def test_create_with_all_fields_and_title_whitespace_stripped(client, tokens, user):
    task = create(
        client, tokens.headers(user), title="  ship it  ", description="d", status="in_progress", due_date="2026-12-24"
    )
    assert (task["title"], task["description"], task["status"], task["due_date"]) == (
        "ship it",
        "d",
        "in_progress",
        "2026-12-24",
    )


def test_get_returns_own_task(client, tokens, user):
    task = create(client, tokens.headers(user))
    response = client.get(f"/tasks/{task['id']}", headers=tokens.headers(user))
    assert response.status_code == 200
    assert response.json() == task


def test_list_is_newest_first_and_only_own_tasks(client, tokens, user):
    other = f"other-{uuid.uuid4()}"
    create(client, tokens.headers(other), title="not mine")
    ids = [create(client, tokens.headers(user), title=f"t{i}")["id"] for i in range(3)]
    page = client.get("/tasks", headers=tokens.headers(user)).json()
    assert [t["id"] for t in page["items"]] == ids[::-1]
    assert page["next_offset"] is None
    assert {t["owner"] for t in page["items"]} == {user}


def test_list_paginates(client, tokens, user):
    headers = tokens.headers(user)
    ids = [create(client, headers, title=f"t{i}")["id"] for i in range(5)][::-1]
    seen = []
    offset = 0
    while offset is not None:
        page = client.get("/tasks", params={"limit": 2, "offset": offset}, headers=headers).json()
        assert page["limit"] == 2
        seen += [t["id"] for t in page["items"]]
        offset = page["next_offset"]
    assert seen == ids


def test_list_filters_by_status_and_due_date(client, tokens, user):
    headers = tokens.headers(user)
    early = create(client, headers, title="early", due_date="2026-01-10", status="done")
    late = create(client, headers, title="late", due_date="2026-06-10")
    create(client, headers, title="undated")

    def titles(**params):
        return [t["title"] for t in client.get("/tasks", params=params, headers=headers).json()["items"]]

    assert titles(status="done") == [early["title"]]
    assert titles(due_before="2026-03-01") == ["early"]
    assert titles(due_after="2026-03-01") == ["late"]
    assert titles(due_after="2026-01-10", due_before="2026-06-10") == ["late", "early"]
    assert titles(status="todo", due_after="2026-01-01") == [late["title"]]


def test_patch_changes_only_given_fields(client, tokens, user):
    headers = tokens.headers(user)
    task = create(client, headers, description="keep me", due_date="2026-05-01")
    response = client.patch(f"/tasks/{task['id']}", json={"status": "done", "title": "renamed"}, headers=headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["status"], updated["title"], updated["description"]) == ("done", "renamed", "keep me")
    assert updated["due_date"] == "2026-05-01"
    assert updated["updated_at"] > task["updated_at"]
    cleared = client.patch(f"/tasks/{task['id']}", json={"due_date": None}, headers=headers).json()
    assert cleared["due_date"] is None


def test_delete_removes_the_task(client, tokens, user):
    headers = tokens.headers(user)
    task = create(client, headers)
    response = client.delete(f"/tasks/{task['id']}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/tasks/{task['id']}", headers=headers).status_code == 404
    assert client.delete(f"/tasks/{task['id']}", headers=headers).status_code == 404


def test_another_user_can_neither_read_nor_change_a_task(client, tokens, user):
    task = create(client, tokens.headers(user))
    intruder = tokens.headers(f"intruder-{uuid.uuid4()}")
    url = f"/tasks/{task['id']}"
    for response in (
        client.get(url, headers=intruder),
        client.patch(url, json={"title": "mine now"}, headers=intruder),
        client.delete(url, headers=intruder),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "task not found"}
    # and the task is untouched
    assert client.get(url, headers=tokens.headers(user)).json() == task


def test_unknown_task_is_404(client, tokens, user):
    assert client.get(f"/tasks/{uuid.uuid4()}", headers=tokens.headers(user)).status_code == 404


def test_admin_role_sees_and_changes_every_task(client, tokens, user):
    task = create(client, tokens.headers(user))
    admin = tokens.headers(f"admin-{uuid.uuid4()}", roles=[ADMIN_ROLE])
    listed = client.get("/tasks", params={"limit": 100}, headers=admin).json()["items"]
    assert task["id"] in {t["id"] for t in listed}
    assert client.get(f"/tasks/{task['id']}", headers=admin).json()["owner"] == user
    patched = client.patch(f"/tasks/{task['id']}", json={"status": "done"}, headers=admin).json()
    assert patched["owner"] == user  # an admin edit does not steal the task
    assert client.delete(f"/tasks/{task['id']}", headers=admin).status_code == 204


def test_admin_role_from_client_roles(client, tokens, user):
    task = create(client, tokens.headers(user))
    headers = tokens.headers(
        f"admin-{uuid.uuid4()}", resource_access={"task-api": {"roles": [ADMIN_ROLE]}}, realm_access=None
    )
    assert client.get(f"/tasks/{task['id']}", headers=headers).status_code == 200


def test_other_roles_do_not_grant_admin(client, tokens, user):
    task = create(client, tokens.headers(user))
    headers = tokens.headers(f"u-{uuid.uuid4()}", roles=["admin", "offline_access"])
    assert client.get(f"/tasks/{task['id']}", headers=headers).status_code == 404


def test_list_rows_do_not_depend_on_the_session_s_time_zone_or_date_style(client, tokens, user, database_url):
    """The list's SQL formats its timestamps itself: a server or role with other settings writes the same text."""
    import asyncio

    import asyncpg
    from task_api import repository
    from task_api.repository import Scope

    headers = tokens.headers(user)
    create(client, headers, title="zoned", due_date="2026-03-01")
    sql, params = repository._page_query(
        Scope(owner=user), limit=20, offset=0, status=None, due_before=None, due_after=None
    )

    async def rows(**settings: str) -> list[tuple]:
        conn = await asyncpg.connect(database_url, server_settings=settings)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *params)]
        finally:
            await conn.close()

    utc = asyncio.run(rows(TimeZone="UTC", DateStyle="ISO, MDY"))
    assert len(utc) == 1 and utc[0][6].endswith("Z") and "T" in utc[0][6]
    assert asyncio.run(rows(TimeZone="America/St_Johns", DateStyle="SQL, DMY")) == utc
    assert asyncio.run(rows(TimeZone="Asia/Kathmandu", DateStyle="German")) == utc


def test_list_formats_only_the_page_s_rows(client, tokens, user, database_url):
    """PostgreSQL formats the page's timestamps after the LIMIT, not for every row it sorts or skips."""
    import asyncio
    import json

    import asyncpg
    from task_api import repository
    from task_api.repository import Scope

    headers = tokens.headers(user)
    for i in range(5):
        create(client, headers, title=f"row {i}")
    sql, params = repository._page_query(
        Scope(owner=user), limit=2, offset=1, status=None, due_before=None, due_after=None
    )

    async def plan() -> dict:
        conn = await asyncpg.connect(database_url)
        try:
            return json.loads(await conn.fetchval("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, *params))[0]["Plan"]
        finally:
            await conn.close()

    top = asyncio.run(plan())
    assert any("to_char" in column for column in top["Output"])
    below = list(top.get("Plans", []))
    while below:
        node = below.pop()
        assert not any("to_char" in column for column in node.get("Output", [])), node["Node Type"]
        below.extend(node.get("Plans", []))
    response = client.get("/tasks?limit=2&offset=1", headers=headers)
    assert [t["title"] for t in response.json()["items"]] == ["row 3", "row 2"]


def test_list_body_is_what_the_task_page_model_gives(client, tokens, user, database_url):
    """PostgreSQL writes the list's JSON: byte for byte what TaskPage would give, and the same query errors."""
    import asyncio

    import asyncpg
    from task_api.models import TaskPage

    headers = tokens.headers(user)
    tricky = 'quote " backslash \\ slash / \b\f\n\r\t \x01\x1f\x7f é 日本 🎉 \u2028'
    first = create(client, headers, title="first", description=tricky, due_date="2026-03-01")
    second = create(client, headers, title="se\\cond", status="done")
    third = create(client, headers, title="third")

    async def whole_seconds() -> None:  # pydantic leaves out a zero fraction
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "UPDATE tasks SET created_at = '2026-01-02 03:04:05+00', updated_at = '2026-01-02 03:04:05.12+00' "
                "WHERE id = $1",
                uuid.UUID(third["id"]),
            )
        finally:
            await conn.close()

    asyncio.run(whole_seconds())

    def check(params, expected_ids):
        response = client.get("/tasks", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.content == TaskPage.model_validate(response.json()).model_dump_json().encode()
        assert [t["id"] for t in response.json()["items"]] == expected_ids
        return response.json()

    page = check({}, [second["id"], first["id"], third["id"]])
    assert page["next_offset"] is None
    assert page["items"][1]["description"] == tricky
    assert page["items"][2]["created_at"] == "2026-01-02T03:04:05Z"
    assert page["items"][2]["updated_at"] == "2026-01-02T03:04:05.120000Z"
    assert check({"limit": 1}, [second["id"]])["next_offset"] == 1
    assert check({"limit": 1, "offset": 1}, [first["id"]])["next_offset"] == 2
    assert check({"offset": 3}, [])["items"] == []
    check({"status": "done"}, [second["id"]])
    check({"due_before": "2026-03-01", "due_after": "2026-03-01"}, [first["id"]])
    # Unknown parameters are ignored, the last of repeated ones counts (as FastAPI's Query did).
    response = client.get("/tasks?limit=5&limit=1&colour=red", headers=headers)
    assert response.status_code == 200
    assert response.json()["limit"] == 1
    openapi = client.get("/openapi.json").json()
    names = [p["name"] for p in openapi["paths"]["/tasks"]["get"]["parameters"]]
    assert names == ["limit", "offset", "status", "due_before", "due_after"]
