"""The HTTP endpoints. Everything under /v1 needs the bearer token; /healthz and the page do not."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import os
import re
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from agentkit.schemas import Answer, Coverage
from agentkit.server.app import STATIC_DIR, UPLOAD_PATH, ServerState
from agentkit.server.auth import require_token
from agentkit.server.jobs import Job

__all__ = ["public", "router", "AskRequest", "IndexRequest", "EEGReportRequest", "SourceInfo", "ServerInfo"]

logger = logging.getLogger(__name__)

public = APIRouter()
router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])

_ID = r"^[A-Za-z0-9._:-]{1,128}$"


class AskRequest(BaseModel):
    """A question, as `POST /v1/ask` takes it."""

    question: str = Field(description="the question (its length is capped: 413 beyond)")
    options: list[str] | None = Field(None, max_length=26, description="multiple-choice options")
    source: str | None = Field(None, pattern=_ID, description="only this source id; default: every source")
    thread: str | None = Field(None, pattern=_ID, description="conversation thread id, for follow-up questions")


class IndexRequest(BaseModel):
    """A file to index, as `POST /v1/index` takes it."""

    path: str = Field(max_length=4096, description="absolute path under a folder allowed with --allow")
    source: str | None = Field(None, pattern=_ID, description="source id; default: the file's content hash")


class EEGReportRequest(BaseModel):
    """An EEG file to report on, as `POST /v1/eeg/report` takes it."""

    path: str = Field(max_length=4096, description="absolute path under a folder allowed with --allow")
    units: str | None = Field(None, max_length=8, description="override the file's unit: V, mV, uV, nV")
    ica: bool = Field(False, description="also run ICA + ICLabel (slower)")


class SourceInfo(BaseModel):
    """One indexed source, as `GET /v1/sources` lists it."""

    source: str
    name: str = Field("", description="file name it was indexed from")
    path: str = Field("", description="file it was indexed from")
    frames: bool = Field(False, description="thumbnails can be decoded (the file is still there)")
    coverage: Coverage


class ServerInfo(BaseModel):
    """What this server accepts, for clients and the page."""

    version: str
    store: str
    read_only: bool
    uploads: bool
    threads: bool
    index_allowed: bool
    max_question_chars: int
    max_body_bytes: int


def _state(request: Request) -> ServerState:
    return request.app.state.server


# ---- public ---------------------------------------------------------------------------------
@public.get("/healthz", tags=["public"])
def healthz() -> dict[str, str]:
    """Liveness: no token needed, nothing about the store told."""
    return {"status": "ok"}


@public.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The web page (static; it asks for the token and sends it with each call)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


# ---- /v1 ------------------------------------------------------------------------------------
@router.get("/info", response_model=ServerInfo)
def info(request: Request) -> ServerInfo:
    """What this server accepts: uploads, index jobs, threads, limits."""
    s = _state(request)
    return ServerInfo(version=request.app.version, store=str(s.settings.store), read_only=s.settings.read_only,
                      uploads=request.app.state.upload_dir is not None, threads=s.threads,
                      index_allowed=bool(s.policy.roots) and not s.settings.read_only,
                      max_question_chars=s.settings.max_question_chars, max_body_bytes=s.settings.max_body_bytes)


@router.post("/ask", response_model=Answer)
async def ask(body: AskRequest, request: Request) -> Answer:
    """Answer a question from memory, with its confidence and evidence."""
    s = _state(request)
    limit = s.settings.max_question_chars
    if len(body.question) > limit:
        raise HTTPException(413, f"question is {len(body.question)} characters; the limit is {limit}")
    if not body.question.strip():
        raise HTTPException(422, "question is empty")
    if body.options and any(len(o) > limit for o in body.options):
        raise HTTPException(413, f"an option is over the limit of {limit} characters")
    if body.thread and not s.threads:
        raise HTTPException(501, "this agent does not keep conversation threads yet: leave out 'thread'")
    if not s.ask_queue.acquire(blocking=False):
        raise HTTPException(503, f"{s.settings.max_queued_asks} questions are already waiting; try again shortly",
                            headers={"Retry-After": "2"})
    try:
        return await asyncio.wrap_future(s.ask_pool.submit(_answer, s, body))
    finally:
        s.ask_queue.release()


def _answer(s: ServerState, body: AskRequest) -> Answer:
    """On an ask worker thread: check the source, then ask."""
    if body.source and body.source not in _known_sources(s):
        raise HTTPException(404, f"unknown source {body.source!r}: see GET /v1/sources")
    extra = {"thread": body.thread} if body.thread else {}
    try:
        return s.agent.ask(body.question, body.options or None, source=body.source or None, **extra)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/sources", response_model=list[SourceInfo])
def sources(request: Request) -> list[SourceInfo]:
    """What is indexed, and which time ranges of each source."""
    s = _state(request)
    memory = s.agent.toolkit.memory
    out = []
    for source in sorted(_known_sources(s)):
        progress = memory.store.get_progress(source) or {}
        path = str(progress.get("path") or _job_path(s, source) or "")
        coverage = memory.coverage(source) or Coverage(source=source)
        out.append(SourceInfo(source=source, name=Path(path).name if path else "", path=path,
                              frames=bool(path) and os.path.isfile(path), coverage=coverage))
    return out


@router.post("/index", response_model=Job, status_code=202)
def index(body: IndexRequest, request: Request) -> Job:
    """Start indexing a file in the background; follow it at /v1/jobs/{id} or /v1/jobs/{id}/events."""
    s = _state(request)
    if s.settings.read_only:
        raise HTTPException(409, "the store is open read-only: this server does not index")
    real = s.policy.check(body.path)
    from perception.errors import InputError
    from perception.video import probe

    try:
        duration = probe(real).duration
        source = body.source or s.agent.toolkit.source_id(real)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    return s.jobs.submit(real, source=source, duration=duration)


@router.get("/jobs", response_model=list[Job])
def jobs(request: Request) -> list[Job]:
    """Index jobs of this process, oldest first."""
    return _state(request).jobs.list()


@router.get("/jobs/{job_id}", response_model=Job)
def job(request: Request, job_id: str = PathParam(pattern=r"^[0-9a-f]{16}$")) -> Job:
    """One index job: state, share done, records written, error."""
    found = _state(request).jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return found


@router.get("/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str = PathParam(pattern=r"^[0-9a-f]{16}$")) -> StreamingResponse:
    """Server-sent events: the job as JSON after every change, until it is done or failed."""
    jobs_ = _state(request).jobs
    if jobs_.get(job_id) is None:
        raise HTTPException(404, f"no job {job_id}")

    async def stream():
        version, quiet = -1, 0.0
        while True:
            current = jobs_.get(job_id)
            if current is None:
                return
            if current.version != version:
                version, quiet = current.version, 0.0
                yield f"event: job\ndata: {current.model_dump_json()}\n\n"
                if current.over:
                    return
            elif quiet >= 15.0:
                quiet = 0.0
                yield ": still running\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.25)
            quiet += 0.25

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/frames/{source}/{t}.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "a JPEG thumbnail"}})
def frame(request: Request, source: str = PathParam(pattern=_ID),
          t: float = PathParam(ge=0.0, le=1e7, description="seconds from the start")) -> Response:
    """The frame of ``source`` shown at ``t`` seconds, as a JPEG thumbnail (320 px wide)."""
    s = _state(request)
    if source not in _known_sources(s):
        raise HTTPException(404, f"unknown source {source!r}")
    progress = s.agent.toolkit.memory.store.get_progress(source) or {}
    path = str(progress.get("path") or _job_path(s, source) or "")
    if not path:
        raise HTTPException(404, f"source {source!r} has no file recorded (indexed before paths were kept, or not a video)")
    if not os.path.isfile(path):
        raise HTTPException(404, f"the file source {source!r} was indexed from is no longer there: {path}")
    from perception.errors import InputError

    try:
        data = s.frames.get(path, t)
    except (InputError, LookupError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/eeg/report")
def eeg_report(body: EEGReportRequest, request: Request) -> Any:
    """The EEG report of a file (EDF/BDF/FIF/BrainVision) under an allowed folder."""
    s = _state(request)
    real = s.policy.check(body.path)
    try:
        from agentkit.eeg.report import build_report
        from agentkit.eeg.session import analyze_file
    except ImportError as exc:
        raise HTTPException(501, f"EEG support is not installed ({exc}): pip install 'agentkit[eeg]'") from exc
    from perception.errors import InputError

    try:
        report = build_report(analyze_file(real, units=body.units, ica=body.ica))
    except (InputError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return Response(report.model_dump_json(), media_type="application/json")


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.post(UPLOAD_PATH.removeprefix("/v1"), status_code=201)
async def upload(request: Request, name: str = Query(max_length=200, description="file name, for its extension")) -> dict[str, Any]:
    """Save the raw request body as a file (only with --allow-upload); index it by the path returned."""
    s = _state(request)
    folder: Path | None = request.app.state.upload_dir
    if folder is None:
        raise HTTPException(403, "uploads are off: start the server with --allow-upload")
    limit = s.settings.max_upload_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"upload is {length} bytes; the limit is {limit}")
    safe = _SAFE_NAME.sub("_", Path(name).name).lstrip(".") or "upload"
    target = folder / f"{uuid.uuid4().hex[:12]}-{safe}"
    size = 0
    try:
        with open(target, "xb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload is over the limit of {limit} bytes")
                await run_in_threadpool(fh.write, chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return {"path": str(target), "bytes": size}


_LIVE_LOCK = threading.Lock()


@router.post("/observe")
async def observe(request: Request,
                  t: float = Query(ge=0.0, description="stream time of the frame, seconds (must increase)"),
                  source: str = Query("live", pattern=_ID, description="live source id in memory")) -> dict[str, Any]:
    """Hand one camera frame (a JPEG or PNG image as the raw request body) to the live stream
    ``source``. Perception runs in the background with a bounded queue (newest frame wins when it
    is full); `/v1/ask` answers from what it has seen so far. Returns the stream's counters."""
    s = _state(request)
    if s.settings.read_only:
        raise HTTPException(409, "this server is read-only (--read-only): it cannot take a live stream")
    data = await request.body()
    if not data:
        raise HTTPException(422, "the body must be one JPEG or PNG image")
    return await run_in_threadpool(_observe, s, data, t, source)


def _observe(s: ServerState, data: bytes, t: float, source: str) -> dict[str, Any]:
    import io

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            frame = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HTTPException(422, f"the body is not a readable JPEG or PNG image ({exc})") from None
    with _LIVE_LOCK:  # one stream per server; a second source while one is open is refused
        stream = getattr(s.agent, "_live", None)
        if stream is None or stream.closed:
            stream = s.agent.live(source=source)
        elif stream.source != source:
            raise HTTPException(409, f"live stream {stream.source!r} is open; one stream per server")
    try:
        stream.observe(frame, t)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, str(exc)) from None
    return dataclasses.asdict(stream.stats())


# ---- helpers --------------------------------------------------------------------------------
def _known_sources(s: ServerState) -> set[str]:
    found = set(s.agent.toolkit.memory.store.sources())
    found.update(j.source for j in s.jobs.list() if j.source and j.state == "running")
    return found


def _job_path(s: ServerState, source: str) -> str:
    for j in reversed(s.jobs.list()):
        if j.source == source:
            return j.path
    return ""
