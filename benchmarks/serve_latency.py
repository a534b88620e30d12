"""`agentkit serve` latency: warm questions over HTTP against a cold `agentkit ask`, then load.

Steps (loopback only, every loop bounded):

1. copy a 1 h store (its segments and indexes, not its checkpoints) to a temporary folder;
2. time ``agentkit ask STORE QUESTION --json`` from a new process (cold: models loaded each time);
3. start ``agentkit serve`` on the copy and time how long until it answers ``/healthz``;
4. ask ``--questions`` labelled questions of that video one after another (warm p50/p95), and
   with ``--in-process`` the same through an `Agent` in this process (what the server adds);
5. ``--clients`` threads ask in a loop for ``--seconds`` s, with the server's RSS sampled each second;
6. the same again while one index job (``--index-video``) writes the store.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/serve_latency.py            # the largest cached eval store
    python benchmarks/serve_latency.py --store DIR --cases cases.jsonl --video-key videos/x.mp4
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EVAL = Path.home() / ".cache" / "agentkit" / "eval"
TOKEN = "benchmark-token-0123456789abcdef"


def _longest_store() -> Path:
    """The cached eval store whose single source has the longest indexed duration."""
    import sqlite3

    best, best_until = None, -1.0
    for folder in sorted((EVAL / "work" / "stores").glob("*")):
        db = folder / "segments.sqlite"
        if not db.is_file():
            continue
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for _, data in con.execute("SELECT source, data FROM progress"):
                until = float(json.loads(data).get("until", 0.0))
                if until > best_until:
                    best, best_until = folder, until
        finally:
            con.close()
    if best is None:
        raise SystemExit(f"no cached eval store under {EVAL / 'work' / 'stores'}: run `agentkit eval` first, or pass --store")
    return best


def _indexed_path(store: Path) -> str:
    import sqlite3

    con = sqlite3.connect(f"file:{store / 'segments.sqlite'}?mode=ro", uri=True)
    try:
        rows = [json.loads(d) for (d,) in con.execute("SELECT data FROM progress")]
    finally:
        con.close()
    return max(rows, key=lambda p: p.get("until", 0.0)).get("path", "")


def _questions(cases: Path, video_path: str, n: int) -> list[dict]:
    key = "videos/" + Path(video_path).name
    picked = []
    for line in cases.read_text().splitlines():
        case = json.loads(line)
        if case.get("video") == key:
            picked.append({"question": case["question"], **({"options": case["options"]} if case.get("options") else {})})
    if not picked:
        raise SystemExit(f"no case in {cases} is about {key}")
    return [picked[i % len(picked)] for i in range(n)]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _summary(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_s": round(_pct(lat, 0.5), 3), "p95_s": round(_pct(lat, 0.95), 3),
            "max_s": round(max(lat), 3) if lat else None, "mean_s": round(statistics.fmean(lat), 3) if lat else None}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_cli(store: Path, questions: list[dict], runs: int) -> list[float]:
    times = []
    for q in questions[:runs]:
        cmd = [sys.executable, "-m", "agentkit.cli", "ask", str(store), q["question"], "--json"]
        for option in q.get("options", []):
            cmd += ["--option", option]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"agentkit ask failed: {done.stderr[-2000:]}")
    return times


def in_process(store: Path, questions: list[dict]) -> list[float]:
    """The same questions through a warm `Agent` in this process: what the server adds is the rest."""
    import torch

    from agentkit import Agent

    torch.set_num_threads(1)
    lat = []
    with Agent.default(store=store, read_only=True) as agent:
        agent.ask("what is shown at the start?")
        for q in questions:
            started = time.perf_counter()
            agent.ask(q["question"], q.get("options") or None)
            lat.append(time.perf_counter() - started)
    return lat


def sequential(client: httpx.Client, questions: list[dict]) -> tuple[list[float], int]:
    lat, errors = [], 0
    for q in questions:
        started = time.perf_counter()
        r = client.post("/v1/ask", json=q)
        lat.append(time.perf_counter() - started)
        errors += r.status_code != 200
    return lat, errors


def load(base: str, questions: list[dict], clients: int, seconds: float, pid: int) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    rss: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(k: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as c:
            i = k
            while time.monotonic() < stop_at:
                q = questions[i % len(questions)]
                i += clients
                started = time.perf_counter()
                try:
                    r = c.post("/v1/ask", json=q)
                    ok, why = r.status_code == 200, f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                with lock:
                    lat.append(time.perf_counter() - started)
                    if not ok:
                        errors.append(why)

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append(_rss_mb(pid))
        time.sleep(1.0)
    for t in threads:
        t.join()
    third = max(1, len(rss) // 3)
    return {**_summary(lat), "load_avg_1min_after": round(os.getloadavg()[0], 2), "errors": len(errors), "error_kinds": sorted(set(errors)), "requests_per_s": round(len(lat) / seconds, 2),
            "rss_mb_first_third": round(statistics.fmean(rss[:third]), 1), "rss_mb_last_third": round(statistics.fmean(rss[-third:]), 1),
            "rss_mb_max": round(max(rss), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="store folder (default: the longest cached eval store)")
    ap.add_argument("--cases", type=Path, default=EVAL / "set-2026-12" / "cases.jsonl")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--ask-workers", type=int, default=1)
    ap.add_argument("--index-video", type=Path, default=EVAL / "set-2026-12" / "videos" / "test-11.mp4",
                    help="video indexed during the second load phase")
    ap.add_argument("--in-process", action="store_true", help="also time the questions through an Agent in this process")
    ap.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = ap.parse_args()

    source_store = args.store or _longest_store()
    video = _indexed_path(source_store)
    questions = _questions(args.cases, video, args.questions)
    result: dict = {"date": datetime.date.today().isoformat(), "store": str(source_store), "video": video,
                    "cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
                    "ask_workers": args.ask_workers, "questions": len(questions),
                    "load_avg_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="agentkit-serve-bench-") as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        for f in source_store.iterdir():
            if f.name in ("segments.sqlite", "store.json") or f.suffix == ".faiss":
                shutil.copy2(f, store / f.name)
        print(f"store {source_store.name} ({video}), {len(questions)} questions", flush=True)

        if args.cold_runs > 0:
            cold = cold_cli(store, questions, args.cold_runs)
            result["cold_cli"] = {"runs": [round(t, 2) for t in cold], "median_s": round(statistics.median(cold), 2)}
            print("cold CLI:", result["cold_cli"], flush=True)

        allow = args.index_video.resolve().parent
        if args.in_process:
            lat = in_process(store, questions)
            result["in_process"] = {**_summary(lat), "load_avg_1min_after": round(os.getloadavg()[0], 2)}
            print("warm in-process Agent.ask:", result["in_process"], flush=True)

        port = _free_port()
        env = {**os.environ, "AGENTKIT_TOKEN": TOKEN, "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "agentkit.cli", "serve", "--store", str(store), "--port", str(port),
                                 "--allow", str(allow), "--ask-workers", str(args.ask_workers)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"agentkit serve exited: {proc.stderr.read()[-2000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 600:
                    raise SystemExit("agentkit serve did not come up in 600 s")
                time.sleep(0.2)
            result["server_start_s"] = round(time.perf_counter() - started, 2)
            result["rss_mb_after_start"] = round(_rss_mb(proc.pid), 1)
            print("server up in", result["server_start_s"], "s", flush=True)

            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
                lat, errors = sequential(client, questions)
                result["warm_sequential"] = {**_summary(lat), "errors": errors, "load_avg_1min_after": round(os.getloadavg()[0], 2)}
                print("warm sequential:", result["warm_sequential"], flush=True)

                result["load"] = load(base, questions, args.clients, args.seconds, proc.pid)
                print("load:", result["load"], flush=True)

                if args.index_video.is_file():
                    r = client.post("/v1/index", json={"path": str(args.index_video.resolve())})
                    r.raise_for_status()
                    job_id = r.json()["id"]
                    while client.get(f"/v1/jobs/{job_id}").json()["state"] == "queued":
                        time.sleep(0.2)
                    result["load_while_indexing"] = load(base, questions, args.clients, args.seconds, proc.pid)
                    job = client.get(f"/v1/jobs/{job_id}").json()
                    result["load_while_indexing"]["index_job"] = {k: job[k] for k in ("state", "t", "duration", "error")}
                    result["load_while_indexing"]["index_job"]["ran_whole_phase"] = job["state"] == "running"
                    print("load while indexing:", result["load_while_indexing"], flush=True)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
