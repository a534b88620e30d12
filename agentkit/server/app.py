"""`create_app`: the agent behind FastAPI, with its token, limits and web page.

The agent and its models are loaded once per process. Questions are answered on worker threads
(``ask_workers`` at a time) while one index job at a time writes the store on its own thread;
the store serialises its writes, so a question reads either before or after each committed chunk.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from agentkit.server.auth import PathPolicy
from agentkit.server.frames import FrameCache
from agentkit.server.jobs import Job, JobQueue
from agentkit.server.settings import ServerSettings

__all__ = ["create_app", "ServerState"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
"""The page runs only its own script file: no inline script, so text that slips into HTML cannot run."""

UPLOAD_PATH = "/v1/uploads"


@dataclass
class ServerState:
    """What the routes share: the agent, its jobs, the path policy and the limits."""

    settings: ServerSettings
    agent: Any
    jobs: JobQueue
    policy: PathPolicy
    frames: FrameCache
    ask_pool: ThreadPoolExecutor
    """``ask_workers`` threads that answer questions (torch runs on these only)."""
    ask_queue: threading.BoundedSemaphore
    """Questions accepted at once (answered or waiting); beyond it a request gets 503."""
    threads: bool
    """The agent's ``ask`` takes ``thread=`` (conversation threads)."""
    started: float


def _validation_message(errors: list[dict]) -> str:
    """One readable line for a 422: what was wrong, and where."""
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error", "")
            at = f" at character {loc[0]}" if loc else ""
            parts.append(f"malformed JSON{at}: {why}".rstrip(": ") + " (send a JSON object with Content-Type: application/json)")
        else:
            where = ".".join(loc) or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class _BodyLimit:
    """ASGI middleware: 413 for a request body over the limit, before the app reads it.

    Bodies with a Content-Length over the limit are refused at once; chunked bodies are read up
    to the limit and replayed to the app. Uploads have their own, larger limit (checked by the
    upload route as it streams to disk).
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") == UPLOAD_PATH:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await _send_json(send, 400, {"detail": "Content-Length is not a number"})
            if n > self.max_bytes:
                return await _send_json(send, 413, {"detail": f"request body is {n} bytes; the limit is {self.max_bytes}"})
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await _send_json(send, 413, {"detail": f"request body is over the limit of {self.max_bytes} bytes"})
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _send_json(send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServerSettings, *, token: str, agent: Any = None, warm: bool = False) -> FastAPI:
    """The FastAPI app serving ``agent`` (default: `Agent.default` over ``settings.store``).

    Args:
        settings: Store, allowed folders, limits.
        token: The bearer token every endpoint but ``/healthz`` (and the page's static files)
            requires.
        agent: An `agentkit.Agent` (or an object with its ``ask``/``index``/``toolkit``); None
            opens one. An agent passed in is not closed at shutdown.
        warm: Answer one question at start-up so that the first request finds the models loaded.
    """
    from agentkit.server.routes import public, router

    if not isinstance(token, str) or len(token) < 16:
        raise ValueError("token must be a string of at least 16 characters")
    own_agent = agent is None
    if own_agent:
        from agentkit import Agent

        agent = Agent.default(store=settings.store, read_only=settings.read_only, fps=settings.fps)
    allowed = list(settings.allow)
    upload_dir = None
    if settings.allow_upload:
        from agentkit.cache import cache_root

        upload_dir = Path(settings.upload_dir or cache_root() / "server" / "uploads")
        upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        allowed.append(upload_dir)
    if own_agent:
        agent.toolkit.memory  # open the store now: a store locked by another writer stops the start, not a request
        agent.graph  # compile once here, not racing in two request threads

    def work(job: Job, report) -> dict[str, Any]:
        done = agent.index(job.path, source=job.source or None, progress=report)
        return {"source": done.source, "n_records": done.n_records, "n_new": done.n_new, "t": done.indexed_until}

    state = ServerState(
        settings=settings, agent=agent, jobs=JobQueue(work), policy=PathPolicy(allowed), frames=FrameCache(),
        ask_pool=ThreadPoolExecutor(settings.ask_workers, thread_name_prefix="agentkit-ask"),
        ask_queue=threading.BoundedSemaphore(settings.max_queued_asks),
        threads="thread" in inspect.signature(agent.ask).parameters, started=time.time(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            _warm_up(state)
        try:
            yield
        finally:
            state.jobs.close()
            state.ask_pool.shutdown(wait=True, cancel_futures=True)
            if own_agent:
                agent.close()

    app = FastAPI(title="agentkit", version=_version(), lifespan=lifespan,
                  description="Ask an agent about what it has seen; every /v1 call needs `Authorization: Bearer <token>`.")
    app.state.server = state
    app.state.token = token
    app.state.upload_dir = upload_dir

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        return JSONResponse({"detail": _validation_message(errors), "errors": errors}, status_code=422)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", _CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(public)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _warm_up(state: ServerState) -> None:
    started = time.perf_counter()
    try:
        load = getattr(state.agent, "load_models", None)
        if load is not None:
            load()  # every model once, before several ask workers could race to load one
        memory = state.agent.toolkit.memory
        if memory.store.sources():
            state.ask_pool.submit(state.agent.ask, "what is shown at the start?").result()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only means a slower first question
        logger.warning("warm-up question failed (%s); the first request loads the models", exc)
    logger.info("warm-up took %.1f s", time.perf_counter() - started)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("agentkit")
    except Exception:  # noqa: BLE001
        return "0"
