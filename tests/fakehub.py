"""A local fake of the Hugging Face Hub HTTP API, for testing llmplan.hub through the real client.

Serves on 127.0.0.1 (an OS-chosen port) in a background thread:

- ``GET /api/models/{org}/{name}`` and ``.../revision/{rev}``: the repo's model-info JSON plus ``id``;
  ``expand=`` (or ``expand[]=``) returns only those keys plus ``id``; without it ``sha`` and ``siblings``
  are added, and ``blobs=true`` (what ``model_info(files_metadata=True)`` sends) gives each sibling its
  ``size`` and ``blobId`` (and ``lfs`` for weight files).
- ``GET /api/models?search=&author=&pipeline_tag=&filter=&num_parameters=&sort=&limit=``: a JSON list.
  ``search`` is a case-insensitive substring of the id; every ``filter`` must be one of the repo's tags
  (``license:mit``); ``num_parameters`` ("min:6B,max:14B", units K/M/B/T) keeps repos whose
  ``safetensors.total`` is in range (unknown: left out); ``sort`` (an info key such as downloads,
  trendingScore, lastModified) is descending. ``limit`` is the page size (at most ``page_size``), and
  further pages follow through a ``Link: <...>; rel="next"`` header, as on the Hub.
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
    its content (bytes, str, or a dict/list served as JSON); ``sizes`` maps a path to a size in bytes for
    the file metadata (``blobs=true``): a path only in ``sizes`` is listed but cannot be downloaded, which
    stands in for multi-GB weight files. A gated repo serves files only to a request bearing one of
    ``tokens``."""

    repo_id: str
    info: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    gated: bool = False
    tokens: tuple[str, ...] = ()
    commit: str = ""
    sizes: dict = field(default_factory=dict)

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

    def siblings(self, blobs: bool) -> list[dict]:
        """The ``siblings`` of the model info; with ``blobs`` each carries size, blobId (and lfs)."""
        out = []
        for path in list(self.files) + [p for p in self.sizes if p not in self.files]:
            sibling = {"rfilename": path}
            if blobs:
                data = self.file_bytes(path) or b""
                size = self.sizes.get(path, len(data))
                oid = hashlib.sha1(path.encode() + data).hexdigest()
                sibling |= {"size": size, "blobId": oid}
                if path.endswith((".gguf", ".safetensors", ".bin")):
                    sibling["lfs"] = {"size": size, "sha256": hashlib.sha256(oid.encode()).hexdigest(),
                                      "pointerSize": 134}
            out.append(sibling)
        return out


class FakeHub:
    """The fake Hub server. Use as a context manager, or call start()/stop()."""

    def __init__(self, *, max_lifetime_s: float = 60.0, page_size: int = 100):
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path+query, headers)
        self.max_lifetime_s = max_lifetime_s
        self.page_size = page_size
        self.honour_num_parameters = True  # False plays a mirror that ignores the num_parameters filter
        self._failure: tuple[str, str, float, int] | None = None  # (mode, scope, seconds, status)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- fixtures -------------------------------------------------------------------------------------

    def add_model(self, repo_id: str, info: dict | None = None, files: dict | None = None, *,
                  gated: bool = False, tokens: tuple[str, ...] = (), sizes: dict | None = None) -> FakeRepo:
        repo = FakeRepo(repo_id, dict(info or {}), dict(files or {}), gated, tuple(tokens),
                        sizes=dict(sizes or {}))
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

        search, author, tag = one("search").lower(), one("author"), one("pipeline_tag")
        filters = query.get("filter", []) + query.get("filter[]", [])
        try:
            lo, hi = _param_range(one("num_parameters")) if self.hub.honour_num_parameters else (None, None)
        except ValueError:
            return self._error(400, "BadRequest", "Invalid num_parameters")
        repos = [r for r in self.hub.repos.values()
                 if search in r.repo_id.lower() and (not author or r.repo_id.split("/")[0] == author)
                 and (not tag or r.info.get("pipeline_tag") == tag)
                 and all(f in (r.info.get("tags") or []) for f in filters)
                 and _in_range(r.info, lo, hi)]
        sort = one("sort")
        if sort:  # descending; repos without the key last
            repos.sort(key=lambda r: (0, 0) if r.info.get(sort) is None else (1, r.info[sort]), reverse=True)
        limit = int(one("limit") or 0)
        size = min(limit, self.hub.page_size) if limit > 0 else self.hub.page_size
        offset = int(one("offset") or 0)
        page = [_expanded(r, query) for r in repos[offset:offset + size]]
        headers = {}
        if offset + size < len(repos):
            rest = {k: v for k, v in query.items() if k != "offset"}
            nxt = urlencode([(k, x) for k, v in rest.items() for x in v] + [("offset", offset + size)])
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
        blobs = (query.get("blobs") or [""])[0].lower() == "true"
        info = info | {"sha": repo.commit, "siblings": repo.siblings(blobs)}
    return {"id": repo.repo_id} | info


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _param_range(spec: str) -> tuple[float | None, float | None]:
    """"min:6B,max:14B" -> (6e9, 14e9); "" -> (None, None); ValueError if malformed."""
    bounds: dict[str, float] = {}
    for part in filter(None, spec.split(",")):
        m = re.fullmatch(r"(min|max):(\d+(?:\.\d+)?)([KMBT]?)", part.strip(), re.IGNORECASE)
        if not m or m.group(1).lower() in bounds:
            raise ValueError(spec)
        bounds[m.group(1).lower()] = float(m.group(2)) * _UNITS[m.group(3).upper()]
    return bounds.get("min"), bounds.get("max")


def _in_range(info: dict, lo: float | None, hi: float | None) -> bool:
    if lo is None and hi is None:
        return True
    st = info.get("safetensors")
    total = st.get("total") if isinstance(st, dict) else None
    return isinstance(total, int) and (lo is None or total >= lo) and (hi is None or total <= hi)


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
