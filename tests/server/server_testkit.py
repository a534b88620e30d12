"""Helpers of the server tests: the token, the sign's text, a uvicorn thread, job polling."""
from __future__ import annotations

import threading
import time

import httpx

from agentkit.schemas import Answer, Coverage, Evidence

TOKEN = "test-token-0123456789abcdef"
SIGN = "<script>alert(1)</script>"
SIZE = (320, 180)


def start_server(app) -> tuple[object, str]:
    """Run ``app`` with uvicorn on a free loopback port in a daemon thread; (server, base URL)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def wait_job(client: httpx.Client, job_id: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} still running after {timeout} s")


class _FakeStore:
    """A store of one 10 s source, "fake", whose file is unknown."""

    def __init__(self):
        self.store = self

    def sources(self):
        return ["fake"]

    def get_progress(self, source):
        return {"until": 10.0, "done": True}

    def coverage(self, source):
        return Coverage(source=source, seen=[(0.0, 10.0)], duration=10.0, complete=True)


class FakeAgent:
    """Answers every question with ``text`` in each field the page shows, after ``delay`` s."""

    def __init__(self, text: str = "a fake answer", delay: float = 0.0):
        from types import SimpleNamespace

        self.text, self.delay = text, delay
        self.toolkit = SimpleNamespace(memory=_FakeStore())

    def ask(self, question, options=None, *, source=None):
        time.sleep(self.delay)
        ev = Evidence(source="fake", t0=1.0, t1=2.0, score=0.5, labels=[self.text], text=self.text, why=self.text)
        return Answer(question=question, text=self.text, confidence=0.5, evidence=[ev], kind=self.text)
