"""Invalid input is a 422 whose body says what and where, never a 500."""

from __future__ import annotations

import uuid

import pytest


def assert_422(response, *locations):
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "request validation failed"
    found = [tuple(error["loc"]) for error in body["errors"]]
    for location in locations:
        assert location in found, f"{location} not in {found}"
    for error in body["errors"]:
        assert error["msg"]
        assert "input" not in error  # the body is not echoed back


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({}, ("body", "title")),
        ({"title": ""}, ("body", "title")),
        ({"title": "   "}, ("body", "title")),
        ({"title": "x" * 201}, ("body", "title")),
        ({"title": 5}, ("body", "title")),
        ({"title": "ok", "description": "x" * 10001}, ("body", "description")),
        ({"title": "ok", "status": "someday"}, ("body", "status")),
        ({"title": "ok", "due_date": "tomorrow"}, ("body", "due_date")),
        ({"title": "ok", "due_date": "2026-02-30"}, ("body", "due_date")),
        ({"title": "ok", "owner": "someone-else"}, ("body", "owner")),
    ],
)
def test_create_rejects_invalid_fields(client, tokens, user, body, location):
    assert_422(client.post("/tasks", json=body, headers=tokens.headers(user)), location)


def test_create_rejects_malformed_json(client, tokens, user):
    headers = {**tokens.headers(user), "Content-Type": "application/json"}
    response = client.post("/tasks", content=b'{"title": ', headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == "request validation failed"


def test_create_rejects_a_non_object_body(client, tokens, user):
    assert_422(client.post("/tasks", json=["title"], headers=tokens.headers(user)))


def assert_413(response):
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "request body exceeds 65536 bytes"}


def test_oversized_body_is_413(client, tokens, user):
    response = client.post("/tasks", json={"title": "x", "description": "y" * 100_000}, headers=tokens.headers(user))
    assert_413(response)


def test_oversized_patch_is_413(client, tokens, user):
    headers = tokens.headers(user)
    task = client.post("/tasks", json={"title": "t"}, headers=headers).json()
    assert_413(client.patch(f"/tasks/{task['id']}", json={"description": "y" * 70_000}, headers=headers))


def test_oversized_chunked_body_is_413(client, tokens, user):
    """No Content-Length: the bytes are counted as they arrive."""

    def chunks():
        yield b'{"title": "x", "description": "'
        for _unused in range(20):
            yield b"y" * 4096
        yield b'"}'

    headers = {**tokens.headers(user), "Content-Type": "application/json"}
    response = client.post("/tasks", content=chunks(), headers=headers)
    assert_413(response)
    assert client.get("/tasks", headers=tokens.headers(user)).json()["items"] == []


def test_a_body_at_the_limit_is_read(client, tokens, user):
    body = b'{"title": "x", "description": "' + b"y" * (65536 - 33) + b'"}'
    assert len(body) == 65536
    headers = {**tokens.headers(user), "Content-Type": "application/json"}
    assert_422(client.post("/tasks", content=body, headers=headers), ("body", "description"))


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_an_anonymous_oversized_body_is_401_before_413(client, authorization):
    """The README's promise: anonymous requests get 401 before their body is read."""
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post("/tasks", json={"title": "x", "description": "y" * 100_000}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "missing or invalid bearer token"}
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "at least one"),
        ({"title": None}, "title cannot be null"),
        ({"status": None}, "status cannot be null"),
        ({"status": "finished"}, None),
        ({"id": str(uuid.uuid4())}, None),
    ],
)
def test_patch_rejects_invalid_updates(client, tokens, user, body, fragment):
    headers = tokens.headers(user)
    task = client.post("/tasks", json={"title": "t"}, headers=headers).json()
    response = client.patch(f"/tasks/{task['id']}", json=body, headers=headers)
    assert_422(response)
    if fragment:
        assert fragment in response.text


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": 0}, ("query", "limit")),
        ({"limit": 101}, ("query", "limit")),
        ({"limit": "ten"}, ("query", "limit")),
        ({"offset": -1}, ("query", "offset")),
        ({"offset": 10_001}, ("query", "offset")),
        ({"status": "later"}, ("query", "status")),
        ({"due_before": "soon"}, ("query", "due_before")),
    ],
)
def test_list_rejects_invalid_query(client, tokens, user, params, location):
    assert_422(client.get("/tasks", params=params, headers=tokens.headers(user)), location)


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_malformed_task_id_is_422(client, tokens, user, method):
    kwargs = {"json": {"title": "x"}} if method == "patch" else {}
    response = getattr(client, method)("/tasks/not-a-uuid", headers=tokens.headers(user), **kwargs)
    assert_422(response, ("path", "task_id"))


# PostgreSQL text cannot hold NUL (U+0000): it used to pass the model and end as
# a plain-text 500 from the database driver, with the connection dropped. An
# unpaired surrogate (not UTF-8 either) is already refused by pydantic; kept here
# so it stays refused.
BAD_TEXT = [
    pytest.param(b'"a\\u0000b"', id="nul"),
    pytest.param(b'"\\u0000"', id="only-nul"),
    pytest.param(b'"a\\ud800b"', id="lone-surrogate"),
]


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize("field", ["title", "description"])
def test_create_rejects_text_postgresql_cannot_store(client, tokens, user, field, text):
    headers = {**tokens.headers(user), "Content-Type": "application/json"}
    body = b'{"title": "ok", "%s": %s}' % (field.encode(), text)
    response = client.post("/tasks", content=body, headers=headers)
    assert_422(response, ("body", field))
    if b"u0000" in text:
        assert "NUL" in response.text
    assert client.get("/tasks", headers=tokens.headers(user)).json()["items"] == []


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize("field", ["title", "description"])
def test_patch_rejects_text_postgresql_cannot_store(client, tokens, user, field, text):
    headers = tokens.headers(user)
    task = client.post("/tasks", json={"title": "t", "description": "d"}, headers=headers).json()
    body = b'{"%s": %s}' % (field.encode(), text)
    response = client.patch(
        f"/tasks/{task['id']}", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert_422(response, ("body", field))
    assert client.get(f"/tasks/{task['id']}", headers=headers).json() == task


def test_other_control_characters_and_non_ascii_are_kept(client, tokens, user):
    headers = tokens.headers(user)
    title = "tab\there, é, 日本, 🎉"
    response = client.post("/tasks", json={"title": title, "description": "line\nbreak\x01"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title
    assert response.json()["description"] == "line\nbreak\x01"
