"""A local fake of the Hugging Face Hub HTTP API, for testing llmplan.hub through the real client.

Serves on 127.0.0.1 (an OS-chosen port) in a background thread:

- ``GET /api/models/{org}/{name}`` and ``.../revision/{rev}``: the repo's model-info JSON plus ``id``;
  ``expand=`` (or ``expand[]=``) returns only those keys plus ``id``.
- ``GET /api/models?search=&author=&pipeline_tag=&filter=&sort=&limit=``: a JSON list, paginated with a
  ``Link: <...>; rel="next"`` header.
- ``HEAD``/``GET /{org}/{name}/resolve/{rev}/{path}``: the file, with ``X-Repo-Commit`` and ``ETag``; honours
  ``Range: bytes=a-b`` (206 + Content-Range).
- Errors the way the Hub sends them, through ``X-Error-Code``: RepoNotFound (404), GatedRepo (401),
  EntryNotFound (404), RevisionNotFound (404).

``FakeHub.fail(...)`` switches every (or every API / resolve) request to a 429 with Retry-After, a malformed
JSON body, a dropped connection, or a stall. The server shuts itself down after ``max_lifetime_s`` even if
nobody stops it, and ``stop()`` never waits more than a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class FakeRepo:
    """One model repository: ``info`` is the model-info JSON (``id`` is added), ``files`` maps a path to
    its content (bytes, str, or a dict/list served as JSON). A gated repo serves files only to a request
    bearing one of ``tokens``."""

    repo_id: str
    info: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    gated: bool = False
    tokens: tuple[str, ...] = ()
    commit: str = ""

    def __post_init__(self):
        self.commit = self.commit or hashlib.sha1(self.repo_id.encode()).hexdigest()

    def file_bytes(self, path: str) -> bytes | None:
        content = self.files.get(path)
        if content is None:
            return None
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode()
        return json.dumps(content).encode()


class FakeHub:
    """The fake Hub server. Use as a context manager, or call start()/stop()."""

    def __init__(self, *, max_lifetime_s: float = 60.0, page_size: int = 100):
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path+query, headers)
        self.max_lifetime_s = max_lifetime_s
        self.page_size = page_size
        self._failure: tuple[str, str, float, int] | None = None  # (mode, scope, seconds, status)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- fixtures -------------------------------------------------------------------------------------

    def add_model(self, repo_id: str, info: dict | None = None, files: dict | None = None, *,
                  gated: bool = False, tokens: tuple[str, ...] = ()) -> FakeRepo:
        repo = FakeRepo(repo_id, dict(info or {}), dict(files or {}), gated, tuple(tokens))
        if gated:
            repo.info["gated"] = repo.info.get("gated") or "manual"
        self.repos[repo_id] = repo
        return repo

    def fail(self, mode: str | None, *, scope: str = "all", seconds: float = 0.0, status: int = 503) -> None:
        """Make requests fail: mode "429" (Retry-After: seconds), "status" (an error page with ``status``),
        "malformed" (a broken JSON body on the API), "close" (drop the connection unanswered), "stall"
        (answer after ``seconds``), or None (stop failing). ``scope``: "all", "api" or "resolve"."""
        if mode not in (None, "429", "status", "malformed", "close", "stall") or \
                scope not in ("all", "api", "resolve"):
            raise ValueError(f"unknown failure {mode!r} / scope {scope!r}")
        self._failure = None if mode is None else (mode, scope, seconds, status)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Hub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakehub", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            self._stopping.set()  # wakes stalled handlers
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if server is None:
            return
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout=5.0)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    timeout = 5  # seconds a connection may sit idle before the handler gives up on it
    error_content_type = "text/plain"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self._guarded(send_body=True)

    def do_HEAD(self):
        self._guarded(send_body=False)

    def _guarded(self, send_body: bool) -> None:
        try:
            self._dispatch(send_body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. a stall test timed out)
            self.close_connection = True

    # -- routing ----------------------------------------------------------------------------------------

    def _dispatch(self, send_body: bool) -> None:
        self.send_body = send_body
        self.hub.requests.append((self.command, self.path, dict(self.headers.items())))
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        scope = "api" if path.startswith("/api/") else "resolve"
        if self._injected_failure(scope):
            return
        if path == "/api/models":
            return self._list_models(query)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m:
            return self._model_info(m.group(1), m.group(2), query)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self._resolve(m.group(1), m.group(2), m.group(3))
        self._error(404, "EntryNotFound" if "/resolve/" in path else "RepoNotFound", "not found")

    def _injected_failure(self, scope: str) -> bool:
        failure = self.hub._failure
        if failure is None or failure[1] not in ("all", scope):
            return False
        mode, _, seconds, status = failure
        if mode == "429":
            self._send(429, b"Too many requests", "text/plain", {"Retry-After": str(int(seconds))})
        elif mode == "status":
            self._send(status, b"Service unavailable", "text/plain")
        elif mode == "malformed" and scope == "api":
            self._send(200, b'{"id": "broken", "safetensors": {', "application/json")
        elif mode == "close":
            self.close_connection = True  # returns without writing a byte: the client sees a disconnect
        elif mode == "stall":
            self.hub._stopping.wait(seconds)
            return False
        else:
            return False
        return True

    # -- endpoints --------------------------------------------------------------------------------------

    def _model_info(self, repo_id: str, revision: str | None, query: dict) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if revision not in (None, "main", repo.commit):
            return self._error(404, "RevisionNotFound", "Invalid rev id")
        self._json(200, _expanded(repo, query))

    def _list_models(self, query: dict) -> None:
        def one(key: str) -> str:
            return (query.get(key) or [""])[0]

        models = [_expanded(r, query) for r in self.hub.repos.values()]
        full = {r.repo_id: r.info for r in self.hub.repos.values()}
        search, author, tag = one("search").lower(), one("author"), one("pipeline_tag")
        filters = query.get("filter", []) + query.get("filter[]", [])
        models = [m for m in models
                  if search in m["id"].lower() and (not author or m["id"].split("/")[0] == author)
                  and (not tag or full[m["id"]].get("pipeline_tag") == tag)
                  and all(f in (full[m["id"]].get("tags") or []) for f in filters)]
        sort = one("sort")
        if sort:
            models.sort(key=lambda m: full[m["id"]].get(sort) or 0, reverse=True)
        limit = int(one("limit") or 0) or None
        models = models[:limit]
        offset = int(one("offset") or 0)
        page = models[offset:offset + self.hub.page_size]
        headers = {}
        if offset + self.hub.page_size < len(models):
            rest = {k: v for k, v in query.items() if k != "offset"}
            nxt = urlencode([(k, x) for k, v in rest.items() for x in v] + [("offset", offset + self.hub.page_size)])
            headers["Link"] = f'<{self.hub.url}/api/models?{nxt}>; rel="next"'
        self._json(200, page, headers)

    def _resolve(self, repo_id: str, revision: str, filename: str) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if repo.gated and _bearer(self.headers.get("Authorization")) not in repo.tokens:
            return self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
        commit = {"X-Repo-Commit": repo.commit}
        if revision not in ("main", repo.commit):
            return self._error(404, "RevisionNotFound", "Invalid rev id")
        data = repo.file_bytes(filename)
        if data is None:
            return self._error(404, "EntryNotFound", "Entry not found", commit)
        headers = commit | {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "Accept-Ranges": "bytes"}
        wanted = self.headers.get("Range")
        if wanted:
            m = _RANGE.match(wanted.strip())
            span = _byte_span(m, len(data)) if m else None
            if span is None:
                return self._send(416, b"", "text/plain", commit | {"Content-Range": f"bytes */{len(data)}"})
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], "application/octet-stream", headers)
        self._send(200, data, "application/octet-stream", headers)

    # -- responses --------------------------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str, extra: dict | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, "application/json", {"X-Error-Code": code, "X-Error-Message": message}
                   | (extra or {}))

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.send_body:
            self.wfile.write(body)


def _expanded(repo: FakeRepo, query: dict) -> dict:
    keys = query.get("expand", []) + query.get("expand[]", [])
    info = repo.info if not keys else {k: v for k, v in repo.info.items() if k in keys}
    if not keys:
        info = info | {"sha": repo.commit, "siblings": [{"rfilename": f} for f in repo.files]}
    return {"id": repo.repo_id} | info


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _byte_span(m: re.Match, size: int) -> tuple[int, int] | None:
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None
