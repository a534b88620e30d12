"""The web page in a real browser: Debian's headless chromium, driven through Playwright's API."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from server_testkit import SIGN, SIZE, TOKEN, FakeAgent

CHROMIUM = Path(os.environ.get("AGENTKIT_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium "
                    "(or set AGENTKIT_CHROMIUM to a chromium binary)")
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_page_asks_and_shows_answer_confidence_and_thumbnails(served, sign_source, browser, media, tmp_path):
    base, _ = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/#token={TOKEN}")
    page.wait_for_selector("#app:not([hidden])")
    assert "token" not in page.url  # taken out of the address bar
    page.wait_for_function("() => document.querySelectorAll('#source option').length >= 2")
    page.select_option("#source", sign_source)
    page.fill("#question", "what does the sign say?")
    page.click("#ask-button")
    page.wait_for_selector("#answer:not([hidden])")

    # the answer and its confidence
    text = page.text_content("#answer-text")
    assert SIGN in text
    assert page.text_content("#confidence").strip().endswith("%")
    # at least one evidence thumbnail, decoded and drawn
    page.wait_for_function("() => [...document.querySelectorAll('#evidence img.thumb')]"
                           ".some(i => i.complete && i.naturalWidth > 0)", timeout=30000)
    assert page.locator(".timeline .mark").count() >= 1
    # the plan and steps, when the answer carries them
    shown = page.evaluate("() => { const a = JSON.parse(document.querySelector('#answer-json').textContent);"
                          " return (a.steps || []).length + (a.plan ? 1 : 0); }")
    assert page.locator("#steps li").count() >= shown
    # the sign's on-screen text is shown as text: no element, no script, no dialog came from it
    assert SIGN in page.text_content("#evidence")
    assert page.evaluate("() => document.querySelectorAll('#main script, #evidence img:not(.thumb)').length") == 0
    assert dialogs == [] and errors == []
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    if os.environ.get("AGENTKIT_PAGE_SCREENSHOT"):  # how docs/serve-page.png is made
        shutil.copy(tmp_path / "page.png", os.environ["AGENTKIT_PAGE_SCREENSHOT"])
    assert (tmp_path / "page.png").stat().st_size > 10_000

    # index a new file from the page, with its progress bar
    from agentkit.demo_video import ImageNeedle, synthesize_video

    clip = synthesize_video(media / "page-clip.mp4", 8, size=SIZE, fps=25, seed=5, needles=[ImageNeedle("rocket", t0=3, duration=2)])
    page.fill("#index-path", str(clip.path))
    page.click("#index-form button")
    page.wait_for_selector("#index-progress:not([hidden])")
    page.wait_for_function("() => document.querySelector('#index-status').textContent.startsWith('done')", timeout=120000)
    assert page.evaluate("() => document.querySelector('#index-progress').value") == 1
    page.wait_for_function("() => document.querySelector('#source').textContent.includes('page-clip.mp4')")
    assert dialogs == [] and errors == []
    page.close()


def test_page_without_a_token_asks_for_one(served, browser):
    base, _ = served
    page = browser.new_page()
    page.goto(f"{base}/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", "wrong-token-0123456789")
    page.click("#token-form button")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('refused')")
    assert page.is_hidden("#app")
    page.close()


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'


def test_markup_in_answers_is_shown_as_text(browser, tmp_path):
    from server_testkit import start_server

    from agentkit.server import ServerSettings, create_app

    app = create_app(ServerSettings(store=tmp_path / "unused"), token=TOKEN, agent=FakeAgent(HOSTILE))
    server, base = start_server(app)
    try:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/#token={TOKEN}")
        page.wait_for_selector("#app:not([hidden])")
        page.fill("#question", "anything?")
        page.click("#ask-button")
        page.wait_for_selector("#answer:not([hidden])")
        assert page.text_content("#answer-text") == HOSTILE
        assert HOSTILE in page.text_content("#evidence")
        assert page.evaluate("() => window.__pwned") is None
        assert page.evaluate("() => document.querySelectorAll('#main b, #main script, #main img:not(.thumb)').length") == 0
        assert dialogs == []
        page.close()
    finally:
        server.should_exit = True
