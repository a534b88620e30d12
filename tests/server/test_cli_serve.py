"""`agentkit serve` as a user starts it: the token printed once, kept 0600, and the door locked."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(store, token_file, port):
    env = {k: v for k, v in os.environ.items() if k != "AGENTKIT_TOKEN"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "agentkit.cli", "serve", "--store", str(store), "--port", str(port),
                             "--token-file", str(token_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_up(proc, base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"agentkit serve exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("agentkit serve did not come up")


def _stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_serve_prints_a_new_token_once_and_keeps_it_0600(tmp_path):
    store, token_file = tmp_path / "store", tmp_path / "token"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(store, token_file, port)
    try:
        _wait_up(proc, base)
        token = token_file.read_text().strip()
        assert os.stat(token_file).st_mode & 0o777 == 0o600
        assert httpx.get(f"{base}/v1/sources", timeout=10).status_code == 401
        r = httpx.get(f"{base}/v1/sources", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and r.json() == []
        r = httpx.post(f"{base}/v1/index", json={"path": str(tmp_path)}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 403 and "--allow" in r.json()["detail"]
    finally:
        out = _stop(proc)
    assert out.count(token) == 1 and re.search(r"token \(shown once; kept in .*token, mode 0600\)", out), out



def test_serve_on_a_store_another_process_writes_stops_with_one_line(tmp_path):
    from memory.store import EpisodicStore

    with EpisodicStore.open(tmp_path / "store"):  # holds the writer lock
        proc = _serve(tmp_path / "store", tmp_path / "token", _free_port())
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "open for writing elsewhere" in out and "--read-only" in out and "Traceback" not in out, out
