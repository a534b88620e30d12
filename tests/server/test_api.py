"""The HTTP API over a real agent: answers, jobs, thumbnails, and the locks on the door."""
from __future__ import annotations

import io
import json
import os
import time

import httpx
import pytest
from server_testkit import SIGN, TOKEN, FakeAgent, start_server, wait_job


# ---- answers, sources, thumbnails, jobs --------------------------------------------------------
def test_ask_answers_with_confidence_and_evidence(client, sign_source):
    r = client.post("/v1/ask", json={"question": "what does the sign say?", "source": sign_source})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert SIGN in answer["text"]
    assert 0.0 <= answer["confidence"] <= 1.0 and not answer["abstained"]
    assert answer["evidence"] and answer["evidence"][0]["source"] == sign_source
    assert answer["evidence"][0]["t0"] <= 5.0 <= answer["evidence"][0]["t1"]


def test_ask_an_unknown_source_is_404(client):
    r = client.post("/v1/ask", json={"question": "what is shown?", "source": "no-such-source"})
    assert r.status_code == 404 and "unknown source" in r.json()["detail"]


def test_sources_say_what_is_indexed(client, sign_source, sign_video):
    (info,) = [s for s in client.get("/v1/sources").json() if s["source"] == sign_source]
    assert info["name"] == "sign.mp4" and info["frames"]
    assert info["coverage"]["complete"] and info["coverage"]["seen"] == [[0.0, 16.0]]


def test_frame_is_a_jpeg_thumbnail(client, sign_source):
    from PIL import Image

    r = client.get(f"/v1/frames/{sign_source}/5.0.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "JPEG" and image.size == (320, 180)
    assert client.get(f"/v1/frames/{sign_source}/999.jpg").status_code == 200  # past the end: the last frame
    assert client.get("/v1/frames/nope/1.0.jpg").status_code == 404
    assert client.get(f"/v1/frames/{sign_source}/-1.jpg").status_code == 422


def test_index_job_progress_and_event_stream(client, sign_video):
    r = client.post("/v1/index", json={"path": str(sign_video.path)})  # already indexed: resumes, adds nothing
    assert r.status_code == 202
    job = r.json()
    assert job["state"] in ("queued", "running", "done") and job["duration"] == pytest.approx(16.0, abs=0.5)
    events = []
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["state"] == "done" and events[-1]["n_new"] == 0 and events[-1]["n_records"] > 0
    assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    assert client.get("/v1/jobs/0123456789abcdef").status_code == 404


def test_asks_are_answered_while_an_index_job_runs(client, media):
    """One index job writing the store does not hold up questions (they read committed chunks)."""
    from agentkit.demo_video import ImageNeedle, synthesize_video

    longer = synthesize_video(media / "longer.mp4", 40, size=(320, 180), fps=25, seed=8,
                              needles=[ImageNeedle("coffee", t0=30, duration=2)])
    job = client.post("/v1/index", json={"path": str(longer.path)}).json()
    answered_while_running = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        r = client.post("/v1/ask", json={"question": "when does the cat appear?"})
        assert r.status_code == 200, r.text
        state = client.get(f"/v1/jobs/{job['id']}").json()["state"]
        if state != "running":
            break
        answered_while_running += 1
    assert wait_job(client, job["id"])["state"] == "done"
    assert answered_while_running >= 1


def test_thread_is_passed_only_to_an_agent_that_keeps_threads(client, served):
    _, app = served
    r = client.post("/v1/ask", json={"question": "when does the cat appear?", "thread": "t-1"})
    if app.state.server.threads:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 501 and "thread" in r.json()["detail"]
    assert client.post("/v1/ask", json={"question": "hi", "thread": "no spaces allowed"}).status_code == 422


def test_questions_over_the_queue_get_503(tmp_path):
    """Questions wait for the ask workers; past ``max_queued_asks`` waiting, the server says so."""
    import concurrent.futures

    from agentkit.server import ServerSettings, create_app

    app = create_app(ServerSettings(store=tmp_path, max_queued_asks=2), token=TOKEN, agent=FakeAgent(delay=1.0))
    assert app.state.server.threads is False
    server, base = start_server(app)
    try:
        def one(_):
            return httpx.post(f"{base}/v1/ask", json={"question": "q?"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            codes = sorted(r.status_code for r in pool.map(one, range(5)))
        assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    finally:
        server.should_exit = True


# ---- the locks ---------------------------------------------------------------------------------
def test_healthz_needs_no_token(anonymous):
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def _v1_calls(app):
    """(method, concrete path) for every /v1 operation in the app's OpenAPI schema."""
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/v1"):
            continue
        concrete = path.replace("{job_id}", "0123456789abcdef").replace("{source}", "abc").replace("{t}", "1.0")
        for method in operations:
            yield method.upper(), concrete


def test_every_v1_endpoint_needs_the_token(served):
    base, app = served
    calls = list(_v1_calls(app))
    assert len(calls) >= 10
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            for method, path in calls:
                r = c.request(method, path, json={"question": "x", "path": "/tmp"} if method == "POST" else None)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers.get("www-authenticate") == "Bearer"


def test_paths_outside_allow_are_403(client, media, tmp_path):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"not really a video")
    (media / "escape.mp4").symlink_to(outside)  # a symlink inside the allowed folder, pointing out
    for path in ["/etc/passwd", str(outside), f"{media}/../{tmp_path.name}/outside.mp4", str(media / "escape.mp4"),
                 "relative/clip.mp4"]:
        for endpoint in ("/v1/index", "/v1/eeg/report"):
            r = client.post(endpoint, json={"path": path})
            assert r.status_code == 403, (endpoint, path, r.text)
            assert r.json()["detail"]
    assert client.post("/v1/index", json={"path": str(media / "missing.mp4")}).status_code == 404
    bad = media / "bad.mp4"
    bad.write_bytes(b"\x00" * 64)
    r = client.post("/v1/index", json={"path": str(bad)})
    assert r.status_code == 422 and "bad.mp4" in r.json()["detail"]


def test_oversized_bodies_and_questions_are_413(client):
    big = json.dumps({"question": "x" * (2 << 20)})
    r = client.post("/v1/ask", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b'{"question": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    r = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/ask", json={"question": "why? " * 200})  # 1000 characters, over this server's 500
    assert r.status_code == 413 and "500" in r.json()["detail"]


@pytest.mark.parametrize("body, expected", [
    (b'{"question": ', "malformed JSON"),
    (b"question=hello", "malformed JSON"),
    (b'{"question": 3}', "question: Input should be a valid string"),
    (b"{}", "question: Field required"),
    (b'{"question": "hi", "options": "a"}', "options: Input should be a valid list"),
])
def test_malformed_json_is_422_with_a_clear_message(client, body, expected):
    r = client.post("/v1/ask", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert expected in r.json()["detail"], r.json()


def test_uploads_are_off_unless_allowed(client):
    r = client.post("/v1/uploads?name=clip.mp4", content=b"\x00" * 10)
    assert r.status_code == 403 and "--allow-upload" in r.json()["detail"]


def test_cors_is_off_and_the_page_forbids_inline_script(anonymous):
    r = anonymous.options("/v1/ask", headers={"Origin": "https://elsewhere.example",
                                              "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    page = anonymous.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text.replace('<script src="/static/app.js" defer></script>', "")


# ---- token -------------------------------------------------------------------------------------
def test_token_generated_once_and_kept_0600(tmp_path):
    from agentkit.server import resolve_token

    path = tmp_path / "server" / "token"
    first = resolve_token(path, environ={})
    assert first.origin == "generated" and len(first.token) >= 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = resolve_token(path, environ={})
    assert again.origin == "file" and again.token == first.token
    assert resolve_token(path, environ={"AGENTKIT_TOKEN": "from-the-environment-123"}).token == "from-the-environment-123"
    with pytest.raises(ValueError, match="at least 16"):
        resolve_token(path, environ={"AGENTKIT_TOKEN": "short"})
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by other users"):
        resolve_token(path, environ={})


# ---- EEG ---------------------------------------------------------------------------------------
def test_eeg_report_of_an_allowed_file(client, media):
    import numpy as np

    from perception.eeg.edf import write_edf

    fs, seconds = 128.0, 60
    t = np.arange(int(fs * seconds)) / fs
    rng = np.random.default_rng(4)
    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    x = rng.normal(0, 8, (len(names), t.size)) + 25 * np.sin(2 * np.pi * 10 * t) * np.array([[0], [0], [0.3], [0.3], [1], [1]])
    path = write_edf(media / "rest.edf", x, fs, names)
    r = client.post("/v1/eeg/report", json={"path": str(path)})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["duration_s"] == pytest.approx(seconds, abs=1) and report["channels"] == names
    assert report["statements"] and all(0 <= s["confidence"] <= 1 for s in report["statements"])


def test_public_names_are_pinned():
    import agentkit.server

    assert sorted(agentkit.server.__all__) == ["PathPolicy", "ServerSettings", "TOKEN_ENV", "create_app", "resolve_token"]


def test_uploads_when_allowed_land_in_the_upload_folder(tmp_path):
    from agentkit.server import ServerSettings, create_app

    folder = tmp_path / "uploads"
    app = create_app(ServerSettings(store=tmp_path / "store", allow_upload=True, upload_dir=folder, max_upload_bytes=1000),
                     token=TOKEN, agent=FakeAgent())
    server, base = start_server(app)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
            r = c.post("/v1/uploads", params={"name": "../../etc/<clip>.mp4"}, content=b"x" * 500)
            assert r.status_code == 201, r.text
            saved = r.json()["path"]
            assert os.path.dirname(saved) == str(folder) and saved.endswith("-_clip_.mp4") and r.json()["bytes"] == 500
            assert c.post("/v1/uploads", params={"name": "big.mp4"}, content=b"x" * 1001).status_code == 413
            assert c.post("/v1/uploads", params={"name": "big.mp4"}, content=iter([b"x" * 600, b"x" * 600])).status_code == 413
            assert sorted(p.name for p in folder.iterdir()) == [os.path.basename(saved)]  # nothing left of the refused ones
            assert c.get("/v1/info").json()["uploads"] is True
    finally:
        server.should_exit = True


# ---- the live stream ---------------------------------------------------------------------------
def test_observe_takes_camera_frames_and_asks_answer_from_what_was_seen(served, client, sign_video):
    """Frames of the sign video posted as JPEGs at 4 fps by a client that waits when the queue is half
    full: the live source answers when the cat (shown at 00:10-00:12) appears, and the counters
    account for every frame."""
    from PIL import Image

    from perception.video import iter_frames

    frames = [(f.t, f.image) for f in iter_frames(sign_video.path, fps=4.0)]
    for t, image in frames:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=90)
        r = client.post("/v1/observe", params={"t": t, "source": "cam"}, content=buf.getvalue(),
                        headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200, r.text
        if r.json()["queued"] >= 4:  # a paced client: on a busy machine drops could take the cat (drops: test_live)
            served[1].state.server.agent._live.flush(timeout=60)
    stats = r.json()
    assert stats["received"] == len(frames) and stats["taken"] + stats["dropped"] + stats["queued"] <= len(frames)
    assert stats["max_queued"] <= 8  # the queue is bounded
    _, app = served
    app.state.server.agent._live.flush(timeout=60)
    answer = client.post("/v1/ask", json={"question": "when does the cat appear?", "source": "cam"}).json()
    assert answer["evidence"] and answer["evidence"][0]["t0"] <= 12.5 and answer["evidence"][0]["t1"] >= 9.5, answer
    live = [c for c in answer["coverage"] if c["source"] == "cam"]
    assert live and live[0]["seen"][0][1] >= 12.0  # memory covers the stream past the cat
    bad = client.post("/v1/observe", params={"t": 100.0, "source": "cam"}, content=b"not an image")
    assert bad.status_code == 422 and "JPEG or PNG" in bad.json()["detail"]
    back = client.post("/v1/observe", params={"t": 1.0, "source": "cam"}, content=buf.getvalue())
    assert back.status_code == 422 and "increase" in back.json()["detail"]
    other = client.post("/v1/observe", params={"t": 200.0, "source": "cam2"}, content=buf.getvalue())
    assert other.status_code == 409
    app.state.server.agent._live.close()
