"""A served agent over a small real video, started once per session on a loopback port.

The video is composed from the packaged clips at 320x180: a sign reading
``<script>alert(1)</script>`` at 4-6 s and a cat picture at 10-12 s. It is indexed through the
API itself (`POST /v1/index`), so the job path is exercised before any test asks.
"""
from __future__ import annotations

import httpx
import pytest
from server_testkit import SIGN, SIZE, TOKEN, start_server, wait_job


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """The folder the server may read from (--allow), holding the served videos."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sign_video(media):
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    return synthesize_video(media / "sign.mp4", 16, size=SIZE, fps=25, seed=3,
                            needles=[TextNeedle(SIGN, t0=4, duration=2), ImageNeedle("chelsea", t0=10, duration=2, name="cat")])


@pytest.fixture(scope="session")
def served(tmp_path_factory, media, sign_video):
    """(base URL, app) of a server over a fresh store, with the sign video indexed through the API."""
    from agentkit.server import ServerSettings, create_app

    store = tmp_path_factory.mktemp("served") / "store"
    app = create_app(ServerSettings(store=store, allow=(media,), max_question_chars=500), token=TOKEN)
    server, base = start_server(app)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
        r = client.post("/v1/index", json={"path": str(sign_video.path)})
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["id"])
        assert job["state"] == "done", job
    yield base, app
    server.should_exit = True


@pytest.fixture()
def client(served):
    base, _ = served
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as c:
        yield c


@pytest.fixture()
def anonymous(served):
    base, _ = served
    with httpx.Client(base_url=base, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def sign_source(served, sign_video):
    from agentkit.cache import file_hash

    return file_hash(sign_video.path)
