"""Test doubles of Gitea and Drone: in-process HTTP servers on 127.0.0.1 with in-memory state.

They implement only the endpoints the gitea_* and drone_* modules use, with the status
codes, JSON fields, cookies and redirects of the real services (Gitea 1.27 API and web
login/OAuth2 pages, Drone 2.25 API and its go-login Gitea flow), so the modules'
decisions (create, keep, regenerate, link, sync, activate) are exercised over real HTTP.
Every request is recorded as (method, path) for assertions such as "nothing but GET
in check mode".
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from html import escape

GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)\.git(?P<rest>/.*)$")


def _basic_user(headers, users) -> str | None:
    value = headers.get("Authorization") or ""
    if not value.startswith("Basic "):
        return None
    user, _unused, password = base64.b64decode(value[6:]).decode().partition(":")
    known = users.get(user)
    return user if known and known["password"] == password else None


class _Server:
    """A threading HTTP server whose handler dispatches to ``self.handle``; HTTPS when ``tls`` gives
    (certificate file, key file), then reached as https://localhost:<port>."""

    def __init__(self, tls: tuple[str, str] | None = None):
        server = self
        self.requests: list[tuple[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _dispatch(self):
                if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                    raw = b""
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        raw += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                server.requests.append((self.command, parts.path))
                cookies = {}
                for item in (self.headers.get("Cookie") or "").split(";"):
                    name, sep, value = item.strip().partition("=")
                    if sep:
                        cookies[name] = value
                status, headers, body = server.handle(
                    self.command, parts.path, urllib.parse.parse_qs(parts.query), self.headers, raw, cookies
                )
                if isinstance(body, dict | list):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                elif isinstance(body, str):
                    body = body.encode()
                    headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                self.send_response(status)
                for key, value in headers.items():
                    for one in value if isinstance(value, list) else [value]:
                        self.send_header(key, one)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.url = f"https://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]


class GiteaDouble(_Server):
    """Gitea: users, organisations, repositories (with git smart HTTP through `git http-backend`),
    collaborators, branch protection rules (stored, not enforced on pushes), OAuth2 apps, tokens,
    web login, OAuth2 authorize, the PyPI package registry of user accounts (upload, PEP 503
    project pages, files), and repository webhooks (stored; ``push_delivery`` builds the requests
    Gitea would send, it sends nothing)."""

    def __init__(self, admin: str, admin_password: str, tls: tuple[str, str] | None = None):
        self.git_root = tempfile.mkdtemp(prefix="gitea-double-")
        self.users = {admin: {"password": admin_password, "email": f"{admin}@gitea.test", "admin": True}}
        self.orgs: dict[str, dict] = {}
        self.repos: dict[tuple[str, str], dict] = {}
        self.protections: dict[tuple[str, str], dict[str, dict]] = {}
        self.apps: dict[int, dict] = {}
        self.tokens: dict[str, list[dict]] = {}
        self.sessions: dict[str, str] = {}
        self.grants: set[tuple[str, int]] = set()
        self.codes: dict[str, dict] = {}
        self._next = 100
        # (owner, normalised project) -> version -> filename -> {sha256, content, requires_python}
        self.packages: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
        # (owner, repo) -> hook id -> {type, url, content_type, secret, events, branch_filter, active}
        self.hooks: dict[tuple[str, str], dict[int, dict]] = {}
        # Set in tests to stand for ROOT_URL (the html_url of webhook payloads).
        self.root_url = "https://gitea.local/"
        super().__init__(tls=tls)

    def _id(self) -> int:
        self._next += 1
        return self._next

    @staticmethod
    def _hook_json(hook_id: int, hook: dict) -> dict:
        # go-gitea/gitea services/webhook/general.go ToHook: the secret is never returned.
        return {
            "id": hook_id,
            "type": hook["type"],
            "config": {"url": hook["url"], "content_type": hook["content_type"]},
            "events": hook["events"],
            "branch_filter": hook["branch_filter"],
            "active": hook["active"],
        }

    def push_delivery(self, owner: str, repo: str, branch: str, after: str, changed: list[str]) -> tuple:
        """What Gitea would send each active hook of owner/repo for a push to ``branch``: a list of
        (url, headers, body bytes). Headers and signature as go-gitea/gitea v1.27.3
        services/webhook/deliver.go addDefaultHeaders sets them (HMAC-SHA256 of the body with the
        hook's secret, hex; the installation target ``repository`` for a repository's hook), the
        same names and values as the real server's delivery (tests/services/test_gitea_real.py
        compares them); the body carries the fields of a push payload Argo CD reads
        (ref, before, after, repository.html_url and default_branch, commits[].modified)."""
        meta = self.repos[(owner, repo)]
        body = json.dumps(
            {
                "ref": f"refs/heads/{branch}",
                "before": "0" * 40,
                "after": after,
                "commits": [{"id": after, "added": [], "removed": [], "modified": changed}],
                "repository": {
                    "name": repo,
                    "full_name": f"{owner}/{repo}",
                    "html_url": f"{self.root_url}{owner}/{repo}",
                    "default_branch": meta["default_branch"],
                },
            }
        ).encode()
        out = []
        for hook in self.hooks.get((owner, repo), {}).values():
            if not hook["active"] or "push" not in hook["events"]:
                continue
            if hook["branch_filter"] and hook["branch_filter"] not in ("*", branch):
                continue
            sig256 = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest() if hook["secret"] else ""
            sig1 = hmac.new(hook["secret"].encode(), body, hashlib.sha1).hexdigest() if hook["secret"] else ""
            delivery = secrets.token_hex(8)
            headers = {
                "Content-Type": "application/json",
                "X-Gitea-Delivery": delivery,
                "X-Gitea-Event": "push",
                "X-Gitea-Event-Type": "push",
                "X-Gitea-Signature": sig256,
                "X-Gitea-Hook-Installation-Target-Type": "repository",
                "X-Gogs-Delivery": delivery,
                "X-Gogs-Event": "push",
                "X-Gogs-Event-Type": "push",
                "X-Gogs-Signature": sig256,
                "X-Hub-Signature": "sha1=" + sig1,
                "X-Hub-Signature-256": "sha256=" + sig256,
                "X-GitHub-Delivery": delivery,
                "X-GitHub-Event": "push",
                "X-GitHub-Event-Type": "push",
                "X-GitHub-Hook-Installation-Target-Type": "repository",
            }
            out.append((hook["url"], headers, body))
        return out

    def close(self):
        super().close()
        shutil.rmtree(self.git_root, ignore_errors=True)

    def git_dir(self, owner: str, repo: str) -> str:
        return os.path.join(self.git_root, owner, f"{repo}.git")

    def _git(self, method, match, query, headers, raw):
        """Smart HTTP as Gitea serves it: basic auth (password or token), then git http-backend."""
        owner, repo = match["owner"], match["repo"]
        value = headers.get("Authorization") or ""
        user = None
        if value.startswith("Basic "):
            name, _unused, password = base64.b64decode(value[6:]).decode().partition(":")
            tokens = {t["sha1"]: u for u, ts in self.tokens.items() for t in ts}
            if self.users.get(name, {}).get("password") == password:
                user = name
            elif password in tokens:
                user = tokens[password]
        if user is None:
            return 401, {"WWW-Authenticate": 'Basic realm="Gitea"'}, b"Unauthorized"
        permission = self.permission(user, owner, repo)
        pushing = "git-receive-pack" in (match["rest"] + "?" + "&".join(f"{k}={v[0]}" for k, v in query.items()))
        if (owner, repo) not in self.repos or permission is None or (pushing and permission == "read"):
            return 404, {}, b"Not found"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.git_root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": self.git_root,
            "PATH_INFO": f"/{owner}/{repo}.git{match['rest']}",
            "QUERY_STRING": urllib.parse.urlencode({k: v[0] for k, v in query.items()}),
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(len(raw)),
            "REMOTE_USER": user,
            "HTTP_CONTENT_ENCODING": headers.get("Content-Encoding") or "",
            "GIT_PROTOCOL": headers.get("Git-Protocol") or "",
        }
        done = subprocess.run(["git", "http-backend"], input=raw, capture_output=True, env=env, check=False)
        head, _unused, body = done.stdout.partition(b"\r\n\r\n")
        status, out_headers = 200, {}
        for line in head.decode().split("\r\n"):
            key, _unused, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                out_headers[key] = value
        return status, out_headers, body

    def add_user(self, name, password, admin=False):
        self.users[name] = {"password": password, "email": f"{name}@gitea.test", "admin": admin}

    def permission(self, user: str, owner: str, repo: str) -> str | None:
        if self.users.get(user, {}).get("admin"):
            return "admin"
        return self.repos.get((owner, repo), {}).get("collaborators", {}).get(user)

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, method, path, query, headers, raw, cookies):
        git = GIT_PATH.match(path)
        if git:
            return self._git(method, git, query, headers, raw)
        if path.startswith("/api/v1/"):
            return self._api(method, path[len("/api/v1") :], query, headers, json.loads(raw or b"null"))
        if path.startswith("/api/packages/"):
            return self._pypi(method, path, headers, raw)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        return self._web(method, path, query, form, cookies, headers)

    def _api(self, method, path, query, headers, body):
        who = _basic_user(headers, self.users)
        if who is None and not headers.get("Authorization"):
            # REQUIRE_SIGNIN_VIEW (the role's app.ini): go-gitea/gitea v1.27.3 routers/api/v1/api.go
            # verifyAuthWithOptions refuses anonymous callers with 403.
            return 403, {}, {"message": "Only signed in user is allowed to call APIs."}
        if who is None:
            # apiAuth: credentials that do not authenticate.
            return 401, {}, {"message": "invalid username, password or token"}
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        admin = self.users[who]["admin"]
        page = int(query.get("page", ["1"])[0])
        limit = int(query.get("limit", ["50"])[0])

        def paged(items):
            return items[(page - 1) * limit : page * limit]

        match (method, parts):
            case ("GET", ["user"]):
                return 200, {}, {"login": who, "is_admin": admin}
            case ("GET", ["users", name]):
                return (200, {}, {"login": name}) if name in self.users else (404, {}, {"message": "not found"})
            case ("POST", ["admin", "users"]):
                if not admin:
                    return 403, {}, {"message": "forbidden"}
                if body["username"] in self.users:
                    return 422, {}, {"message": "user already exists"}
                self.add_user(body["username"], body["password"])
                return 201, {}, {"login": body["username"]}
            case ("PATCH", ["admin", "users", name]):
                if not admin or name not in self.users:
                    return 404, {}, {"message": "not found"}
                self.users[name]["password"] = body["password"]
                return 200, {}, {"login": name}
            case ("GET", ["orgs", name]):
                org = self.orgs.get(name)
                return (200, {}, {"username": name, **org}) if org else (404, {}, {"message": "not found"})
            case ("POST", ["orgs"]):
                self.orgs[body["username"]] = {"visibility": body.get("visibility", "public")}
                return 201, {}, {"username": body["username"]}
            case ("PATCH", ["orgs", name]):
                self.orgs[name]["visibility"] = body["visibility"]
                return 200, {}, {"username": name}
            case ("POST", ["orgs", owner, "repos"]):
                branch = body.get("default_branch", "main")
                where = self.git_dir(owner, body["name"])
                subprocess.run(["git", "init", "-q", "--bare", "-b", branch, where], check=True, capture_output=True)
                self.repos[(owner, body["name"])] = {
                    "description": body.get("description", ""),
                    "private": body.get("private", False),
                    "default_branch": body.get("default_branch", "main"),
                    "collaborators": {},
                }
                return 201, {}, {"name": body["name"]}
            case ("GET", ["repos", owner, name]):
                repo = self.repos.get((owner, name))
                if repo is None:
                    return 404, {}, {"message": "not found"}
                return 200, {}, {k: v for k, v in repo.items() if k != "collaborators"} | {"name": name}
            case ("PATCH", ["repos", owner, name]):
                self.repos[(owner, name)].update(body)
                return 200, {}, {"name": name}
            case ("GET", ["repos", owner, name, "collaborators", user]):
                known = user in self.repos[(owner, name)]["collaborators"]
                return (204, {}, b"") if known else (404, {}, {"message": "not a collaborator"})
            case ("GET", ["repos", owner, name, "collaborators", user, "permission"]):
                return 200, {}, {"permission": self.permission(user, owner, name) or "none"}
            case ("PUT", ["repos", owner, name, "collaborators", user]):
                if user not in self.users:
                    return 422, {}, {"message": "user does not exist"}
                self.repos[(owner, name)]["collaborators"][user] = body["permission"]
                return 204, {}, b""
            # Branch protection (Gitea API v1: GET/PATCH /repos/{owner}/{repo}/branch_protections/{name},
            # POST /repos/{owner}/{repo}/branch_protections); only a repository admin may use them.
            case ("GET", ["repos", owner, name, "branch_protections", rule]):
                found = self.protections.get((owner, name), {}).get(rule)
                return (200, {}, {"rule_name": rule, **found}) if found else (404, {}, {"message": "not found"})
            case ("POST", ["repos", owner, name, "branch_protections"]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                rule = body.get("rule_name") or body.get("branch_name")
                rules = self.protections.setdefault((owner, name), {})
                if rule in rules:
                    return 403, {}, {"message": "Branch protection already exist"}
                rules[rule] = {k: v for k, v in body.items() if k not in ("rule_name", "branch_name")}
                return 201, {}, {"rule_name": rule, **rules[rule]}
            case ("PATCH", ["repos", owner, name, "branch_protections", rule]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                found = self.protections.get((owner, name), {}).get(rule)
                if found is None:
                    return 404, {}, {"message": "not found"}
                found.update(body)
                return 200, {}, {"rule_name": rule, **found}
            # Webhooks (routers/api/v1/api.go group /repos/{owner}/{repo}/hooks: reqToken, reqAdmin).
            case ("GET", ["repos", owner, name, "hooks"]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                hooks = self.hooks.get((owner, name), {})
                return 200, {}, paged([self._hook_json(i, h) for i, h in sorted(hooks.items())])
            case ("POST", ["repos", owner, name, "hooks"]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                config = body.get("config") or {}
                if body.get("type") not in ("gitea", "gogs", "slack") or not config.get("url"):
                    return 422, {}, {"message": "invalid hook type or missing config.url"}
                if config.get("content_type") not in ("json", "form"):
                    return 422, {}, {"message": "Invalid content type"}
                hook_id = self._id()
                self.hooks.setdefault((owner, name), {})[hook_id] = {
                    "type": body["type"],
                    "url": config["url"],
                    "content_type": config["content_type"],
                    "secret": config.get("secret", ""),
                    "events": body.get("events") or ["push"],
                    "branch_filter": body.get("branch_filter", ""),
                    "active": bool(body.get("active", False)),
                }
                return 201, {}, self._hook_json(hook_id, self.hooks[(owner, name)][hook_id])
            case ("PATCH", ["repos", owner, name, "hooks", hook_id]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                hook = self.hooks.get((owner, name), {}).get(int(hook_id))
                if hook is None:
                    return 404, {}, {"message": "not found"}
                config = body.get("config") or {}
                for key in ("url", "content_type", "secret"):
                    if key in config:
                        hook[key] = config[key]
                for key in ("events", "branch_filter", "active"):
                    if key in body:
                        hook[key] = body[key]
                return 200, {}, self._hook_json(int(hook_id), hook)
            case ("DELETE", ["repos", owner, name, "hooks", hook_id]):
                if self.permission(who, owner, name) != "admin":
                    return 403, {}, {"message": "forbidden"}
                gone = self.hooks.get((owner, name), {}).pop(int(hook_id), None)
                return (204, {}, b"") if gone else (404, {}, {"message": "not found"})
            case ("GET", ["user", "applications", "oauth2"]):
                mine = [self._app_json(i, secret=False) for i, a in sorted(self.apps.items()) if a["owner"] == who]
                return 200, {}, paged(mine)
            case ("POST", ["user", "applications", "oauth2"]):
                app_id = self._id()
                self.apps[app_id] = {
                    "owner": who,
                    "name": body["name"],
                    "redirect_uris": body["redirect_uris"],
                    "confidential_client": body.get("confidential_client", True),
                    "client_id": secrets.token_hex(8),
                    "client_secret": "gto_" + secrets.token_hex(16),
                }
                return 201, {}, self._app_json(app_id)
            case ("PATCH", ["user", "applications", "oauth2", app_id]):
                app = self.apps.get(int(app_id))
                if app is None or app["owner"] != who:
                    return 404, {}, {"message": "not found"}
                app.update(
                    name=body["name"],
                    redirect_uris=body["redirect_uris"],
                    confidential_client=body.get("confidential_client", True),
                    client_secret="gto_" + secrets.token_hex(16),
                )
                return 200, {}, self._app_json(int(app_id))
            case ("GET", ["users", user, "tokens"]):
                if who != user:
                    return 403, {}, {"message": "only the owner"}
                items = [
                    {"id": t["id"], "name": t["name"], "scopes": t["scopes"], "token_last_eight": t["sha1"][-8:]}
                    for t in self.tokens.get(user, [])
                ]
                return 200, {}, paged(items)
            case ("POST", ["users", user, "tokens"]):
                if who != user:
                    return 403, {}, {"message": "only the owner"}
                if any(t["name"] == body["name"] for t in self.tokens.get(user, [])):
                    return 400, {}, {"message": "access token name has been used already"}
                token = {
                    "id": self._id(),
                    "name": body["name"],
                    "scopes": body["scopes"],
                    "sha1": secrets.token_hex(20),
                }
                self.tokens.setdefault(user, []).append(token)
                return 201, {}, {**token, "token_last_eight": token["sha1"][-8:]}
            case ("DELETE", ["users", user, "tokens", token_id]):
                before = len(self.tokens.get(user, []))
                self.tokens[user] = [t for t in self.tokens.get(user, []) if str(t["id"]) != token_id]
                return (204, {}, b"") if len(self.tokens[user]) < before else (404, {}, {"message": "not found"})
        return 404, {}, {"message": f"no route {method} {path}"}

    # -- PyPI package registry (go-gitea/gitea routers/api/packages/api.go, .../pypi/pypi.go,
    # templates/api/packages/pypi/simple.tmpl, services/context/package.go) --------------
    def _package_user(self, headers) -> tuple[str | None, set[str] | None]:
        """The user of basic auth (password, or token as password) and the token's scopes (None: password)."""
        value = headers.get("Authorization") or ""
        if not value.startswith("Basic "):
            return None, None
        name, _unused, password = base64.b64decode(value[6:]).decode().partition(":")
        if self.users.get(name, {}).get("password") == password:
            return name, None
        for token in self.tokens.get(name, []):
            if token["sha1"] == password:
                return name, set(token["scopes"])
        return None, None

    def _pypi(self, method, path, headers, raw):
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 4 or parts[3] != "pypi":
            return 404, {}, b"Not found"
        owner, rest = parts[2], parts[4:]
        user, scopes = self._package_user(headers)
        writing = method == "POST"
        needed = {"write:package"} if writing else {"read:package", "write:package"}
        # Packages of a user account are that account's own (the role's accounts are private);
        # site administrators pass too. A token needs the package scope for the access.
        allowed = user is not None and (user == owner or self.users[user].get("admin"))
        if not allowed or (scopes is not None and not scopes & needed):
            challenge = {"WWW-Authenticate": 'Basic realm="Gitea Package API"'}
            return 401, challenge, b"user should have specific permission or be a site admin"
        if writing and rest in ([], [""]):
            return self._pypi_upload(owner, headers, raw)
        if method == "GET" and len(rest) in (2, 3) and rest[0] == "simple" and (len(rest) == 2 or rest[2] == ""):
            return self._pypi_page(owner, re.sub(r"[-_.]+", "-", rest[1]).lower())
        if method == "GET" and len(rest) == 4 and rest[0] == "files":
            found = self.packages.get((owner, rest[1]), {}).get(rest[2], {}).get(rest[3])
            return (200, {}, found["content"]) if found else (404, {}, b"package does not exist")
        return 404, {}, b"Not found"

    def _pypi_upload(self, owner, headers, raw):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers.get('Content-Type')}\r\n\r\n".encode() + raw
        )
        fields, content, filename = {}, None, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "content":
                content, filename = part.get_payload(decode=True), part.get_filename()
            else:
                fields[name] = part.get_content().strip()
        if content is None:
            return 400, {}, b"http: no such file"
        if fields.get("sha256_digest", "").lower() != hashlib.sha256(content).hexdigest():
            return 400, {}, b"hash mismatch"
        project = fields.get("name", "").replace(".", "-").replace("_", "-").lower()
        version = fields.get("version", "")
        if not re.match(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", project) or not re.match(r"^v?[0-9]", version):
            return 400, {}, b"invalid name or version"
        files = self.packages.setdefault((owner, project), {}).setdefault(version, {})
        if filename in files:
            return 409, {}, b"package file already exists"
        files[filename] = {
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
            "requires_python": fields.get("requires_python", ""),
        }
        return 201, {}, b""

    def _pypi_page(self, owner, project):
        versions = self.packages.get((owner, project))
        if not versions:
            return 404, {}, b"package does not exist"
        registry = f"{self.url}/api/packages/{owner}/pypi"
        links = []
        for version in sorted(versions):
            for filename, found in versions[version].items():
                python = found["requires_python"]
                extra = f' data-requires-python="{escape(python)}"' if python else ""
                href = f"{registry}/files/{project}/{version}/{filename}#sha256={found['sha256']}"
                links.append(f'<a href="{href}"{extra}>{filename}</a><br>')
        return (
            200,
            {},
            (
                f"<!DOCTYPE html><html><head><title>Links for {project}</title></head><body>"
                f"<h1>Links for {project}</h1>{''.join(links)}</body></html>"
            ),
        )

    def _app_json(self, app_id, secret=True):
        app = self.apps[app_id]
        return {
            "id": app_id,
            "name": app["name"],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"] if secret else "",
            "redirect_uris": app["redirect_uris"],
            "confidential_client": app["confidential_client"],
        }

    def _web(self, method, path, query, form, cookies, headers):
        session_user = self.sessions.get(cookies.get("i_like_gitea", ""))
        if path == "/api/healthz":
            return 200, {}, {"status": "pass"}
        if path == "/user/login" and method == "GET":
            return 200, {}, self._login_page()
        if path == "/user/login" and method == "POST":
            user = self.users.get(form.get("user_name", ""))
            if not user or user["password"] != form.get("password"):
                return 200, {}, self._login_page(error="Username or password is incorrect.")
            session = secrets.token_hex(12)
            self.sessions[session] = form["user_name"]
            return 303, {"Location": "/", "Set-Cookie": f"i_like_gitea={session}; Path=/; HttpOnly"}, b""
        if path == "/login/oauth/authorize" and method == "GET":
            if session_user is None:
                target = urllib.parse.quote(f"{path}?{urllib.parse.urlencode(query, doseq=True)}")
                return 303, {"Location": f"/user/login?redirect_to={target}"}, b""
            app_id, app = self._app_by_client(query.get("client_id", [""])[0])
            redirect_uri = query.get("redirect_uri", [""])[0]
            if app is None or redirect_uri not in app["redirect_uris"]:
                return 400, {}, "invalid client or redirect_uri"
            state = query.get("state", [""])[0]
            if (session_user, app_id) in self.grants:
                return 302, {"Location": self._code_redirect(app, session_user, redirect_uri, state)}, b""
            return 200, {}, self._grant_page(app, state, redirect_uri)
        if path == "/login/oauth/grant" and method == "POST":
            if not self._same_origin(headers):
                return 403, {}, "cross-origin request detected"
            if session_user is None:
                return 400, {}, "Bad Request"
            app_id, app = self._app_by_client(form.get("client_id", ""))
            if form.get("granted") != "true":
                return 302, {"Location": f"{form['redirect_uri']}?error=access_denied"}, b""
            self.grants.add((session_user, app_id))
            return 302, {"Location": self._code_redirect(app, session_user, form["redirect_uri"], form["state"])}, b""
        return 404, {}, "Not found"

    @staticmethod
    def _same_origin(headers) -> bool:
        """Gitea 1.27 has no CSRF tokens: POSTs of signed-in pages (not the sign-in form itself, a
        SignOutRequired route) go through Go's http.CrossOriginProtection (go-gitea/gitea v1.27.3
        routers/web/web.go verifyAuthWithOptions; net/http csrf.go Check): Sec-Fetch-Site must be
        same-origin or none when sent; else an Origin, when sent, must name the request's host."""
        site = headers.get("Sec-Fetch-Site")
        if site:
            return site in ("same-origin", "none")
        origin = headers.get("Origin")
        return not origin or urllib.parse.urlsplit(origin).netloc == headers.get("Host")

    def _app_by_client(self, client_id):
        for app_id, app in self.apps.items():
            if app["client_id"] == client_id:
                return app_id, app
        return None, None

    def _code_redirect(self, app, user, redirect_uri, state):
        code = secrets.token_hex(10)
        self.codes[code] = {"client_id": app["client_id"], "user": user, "redirect_uri": redirect_uri}
        return f"{redirect_uri}?{urllib.parse.urlencode({'code': code, 'state': state})}"

    def exchange(self, code, client_id, client_secret) -> str | None:
        """The user a code was issued to, once, when the client credentials are right (Drone's token exchange)."""
        entry = self.codes.pop(code, None)
        _unused, app = self._app_by_client(client_id)
        if entry is None or app is None or app["client_secret"] != client_secret or entry["client_id"] != client_id:
            return None
        return entry["user"]

    def _login_page(self, error=""):
        return (
            f"<html><body><div class='error'>{escape(error)}</div>"
            # A form before the login form, as real pages have (the module must pick the right one).
            "<form action='/user/passkey/login' method='post'></form>"
            "<form class='ui form' action='/user/login' method='post'>"
            "<input id='user_name' type='text' name='user_name' value=''>"
            "<input id='password' type='password' name='password'>"
            "<input type='checkbox' name='remember'>"
            "<button class='ui primary button'>Sign In</button></form></body></html>"
        )

    def _grant_page(self, app, state, redirect_uri):
        fields = {"client_id": app["client_id"], "state": state, "scope": "", "nonce": "", "redirect_uri": redirect_uri}
        hidden = "".join(f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in fields.items())
        return (
            f"<html><body><h2>Authorize {escape(app['name'])}</h2>"
            f"<form method='post' action='/login/oauth/grant'>{hidden}"
            "<button type='submit' name='granted' value='true'>Authorize Application</button>"
            "<button type='submit' name='granted' value='false'>Cancel</button></form></body></html>"
        )


class DroneDouble(_Server):
    """Drone: token users, go-login's Gitea OAuth2 flow, sync, activation, settings, secrets, builds."""

    def __init__(self, gitea: GiteaDouble, client_id: str = "", client_secret: str = ""):
        self.gitea = gitea
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, dict] = {}  # login -> user
        self.repos: dict[str, dict] = {}
        self.secrets: dict[str, dict] = {}
        self.builds: list[dict] = []
        self.states: set[str] = set()
        super().__init__()

    def bootstrap(self, login, token, admin=True, machine=False):
        """DRONE_USER_CREATE: an account with an API token and no Gitea token."""
        self.users[login] = {"login": login, "token": token, "admin": admin, "machine": machine,
                             "last_login": 0, "scm_linked": False}  # fmt: skip

    def handle(self, method, path, query, headers, raw, cookies):
        if path == "/login":
            return self._login(query, cookies)
        if path == "/healthz":
            return 200, {}, b""
        auth = headers.get("Authorization") or ""
        user = next((u for u in self.users.values() if auth == f"Bearer {u['token']}"), None)
        if user is None:
            return 401, {}, {"message": "Unauthorized"}
        body = json.loads(raw or b"null")
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        match (method, parts):
            case ("GET", ["api", "user"]):
                return 200, {}, {k: user[k] for k in ("login", "admin", "machine", "last_login")}
            case ("POST", ["api", "user", "repos"]):
                if not user["scm_linked"]:
                    return 500, {}, {"message": "Unauthorized"}
                for (owner, name), _repo in self.gitea.repos.items():
                    slug = f"{owner}/{name}"
                    if self.gitea.permission(user["login"], owner, name) and slug not in self.repos:
                        self.repos[slug] = {"slug": slug, "active": False, "config_path": ".drone.yml",
                                            "timeout": 60, "trusted": False}  # fmt: skip
                return 200, {}, list(self.repos.values())
            case ("GET", ["api", "repos", owner, name]):
                repo = self.repos.get(f"{owner}/{name}")
                return (200, {}, repo) if repo else (404, {}, {"message": "Not Found"})
            case ("POST", ["api", "repos", owner, name]):
                repo = self.repos.get(f"{owner}/{name}")
                if repo is None:
                    return 404, {}, {"message": "Not Found"}
                if not user["scm_linked"] or self.gitea.permission(user["login"], owner, name) != "admin":
                    return 403, {}, {"message": "Forbidden"}
                repo["active"] = True
                return 200, {}, repo
            case ("PATCH", ["api", "repos", owner, name]):
                self.repos[f"{owner}/{name}"].update(body)
                return 200, {}, self.repos[f"{owner}/{name}"]
            case ("GET", ["api", "repos", owner, name, "secrets"]):
                items = self.secrets.get(f"{owner}/{name}", {})
                return 200, {}, [{"name": k, "pull_request": v["pull_request"]} for k, v in sorted(items.items())]
            case ("POST", ["api", "repos", owner, name, "secrets"]):
                self.secrets.setdefault(f"{owner}/{name}", {})[body["name"]] = {
                    "data": body["data"],
                    "pull_request": body.get("pull_request", False),
                }
                return 200, {}, {"name": body["name"]}
            case ("PATCH", ["api", "repos", owner, name, "secrets", secret]):
                entry = self.secrets.get(f"{owner}/{name}", {}).get(secret)
                if entry is None:
                    return 404, {}, {"message": "Not Found"}
                entry.update(data=body["data"], pull_request=body.get("pull_request", False))
                return 200, {}, {"name": secret}
            case ("DELETE", ["api", "repos", owner, name, "secrets", secret]):
                if self.secrets.get(f"{owner}/{name}", {}).pop(secret, None) is None:
                    return 404, {}, {"message": "Not Found"}
                return 204, {}, b""
            case ("POST", ["api", "repos", owner, name, "builds"]):
                build = {"number": len(self.builds) + 1, "repo": f"{owner}/{name}", "branch": query["branch"][0]}
                self.builds.append(build)
                return 200, {}, build
        return 404, {}, {"message": f"no route {method} {path}"}

    def _login(self, query, cookies):
        if "code" not in query:
            state = secrets.token_hex(8)
            self.states.add(state)
            target = f"{self.gitea.url}/login/oauth/authorize?" + urllib.parse.urlencode(
                {
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.url}/login",
                    "response_type": "code",
                    "state": state,
                }
            )
            return 303, {"Location": target, "Set-Cookie": f"_oauth_state_={state}; Path=/; HttpOnly"}, b""
        state = query.get("state", [""])[0]
        if state not in self.states or cookies.get("_oauth_state_") != state:
            return 303, {"Location": "/login/error?message=" + urllib.parse.quote("invalid state")}, b""
        login = self.gitea.exchange(query["code"][0], self.client_id, self.client_secret)
        if login is None:
            return 303, {"Location": "/login/error?message=" + urllib.parse.quote("oauth2: cannot fetch token")}, b""
        user = self.users.get(login)
        if user is None:
            self.bootstrap(login, secrets.token_hex(16), admin=False)
            user = self.users[login]
        if user["machine"]:
            return (
                303,
                {"Location": "/login/error?message=" + urllib.parse.quote("Machine account login is forbidden")},
                b"",
            )
        user.update(scm_linked=True, last_login=1700000000)
        return 303, {"Location": "/", "Set-Cookie": f"_session_={secrets.token_hex(8)}; Path=/"}, b""
