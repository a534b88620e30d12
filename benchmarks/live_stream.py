"""Live stream: frames/s perception sustains, drops when frames come faster, `ask` latency meanwhile.

Usage:
    python benchmarks/live_stream.py                      # 20 s per phase, 320x180 frames, 120 s camera
    python benchmarks/live_stream.py --seconds 10 --out benchmarks/results/live_stream_cpu.json

A composed 40 s video of real clips with needles (the test video) is decoded once at 25 fps and
played as a camera: the frame shown at wall-clock time w is the video's frame at w (looping), and
its stream time is w. Frames are offered to `LiveStream.observe` at a fixed rate from the main
thread; perception runs on the stream's thread with the default models (MobileNetV2 + ConSE, text
detector, OCR where it sees text), torch on one thread.

Phases:
1. capacity: frames offered at ``--offer``/s (400, more than perception takes) for ``--seconds``;
   the frames perception took per second is the sustained rate. Once with redundancy skipping
   (the default: a redundant frame costs a signature and the text detector) and once with it off
   (every frame encoded: the rate that holds whatever the scene).
2. drops: frames offered at 1x, 2x and 4x the sustained no-skip rate, skipping off; drop rate =
   dropped / offered. During the 2x phase another thread asks questions in a loop (ask latency
   while perception is saturated).
3. camera: a 30 fps camera with default settings for ``--camera-seconds`` (RSS over time; a
   question every second from another thread).
4. idle: the same questions once every stream is closed (ask latency with nothing streaming).
The process RSS is sampled every 0.5 s throughout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

QUESTIONS = ("what does the sign say?", "when does the cat appear?", "is there a cup of coffee?",
             "what is the code word?", "how many times does the cat appear?")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class _RssMonitor:
    def __init__(self, every: float = 0.5):
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append((time.perf_counter() - self._t0, _rss_mb()))

    def window(self, a: float, b: float) -> dict:
        vals = [v for t, v in self.samples if a <= t <= b] or [_rss_mb()]
        return {"rss_first_mb": round(vals[0], 1), "rss_last_mb": round(vals[-1], 1), "rss_max_mb": round(max(vals), 1)}

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def stop(self) -> None:
        self._stop.set()


def _decode(path, fps: float = 25.0):
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames, fps


def _stream(agent, source: str, frames, video_fps: float, rate: float, seconds: float, asker=None, **settings) -> dict:
    """Offer frames at ``rate``/s for ``seconds`` wall-clock seconds; stream time is wall time."""
    stream = agent.live(source, **settings)
    start = time.perf_counter()
    i, n = 0, len(frames)
    if asker is not None:
        asker.start()
    while True:
        t = i / rate
        if t >= seconds:
            break
        lag = start + t - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
        stream.observe(frames[int(t * video_fps) % n], t)
        i += 1
    during = stream.stats()  # before close drains the (bounded) queue
    elapsed = time.perf_counter() - start
    if asker is not None:
        asker.stop()
    final = stream.close(timeout=120)
    return {
        "offered_per_s": round(rate, 2), "seconds": round(elapsed, 2), "offered": during.received,
        "taken": during.taken, "taken_per_s": round(during.taken / elapsed, 2), "dropped": during.dropped,
        "drop_rate": round(during.dropped / max(1, during.received), 3), "kept_encoded": during.kept,
        "ocr_calls": during.ocr_calls, "max_queued": final.max_queued, "segments_written": final.written,
        "perception_busy_share": round(during.perceive_seconds / elapsed, 3),
        "covered_until_s": round(final.covered_until, 2),
    }


class _Asker:
    """Asks the questions in a loop from its own thread; records each latency."""

    def __init__(self, agent, source: str, pause: float = 0.2, warmup: float = 3.0):
        self.agent, self.source, self.pause, self.warmup = agent, source, pause, warmup
        self.latencies: list[float] = []
        self.covered: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self.warmup):  # let some of the stream reach memory first
            return
        k = 0
        while not self._stop.is_set():
            q = QUESTIONS[k % len(QUESTIONS)]
            t0 = time.perf_counter()
            answer = self.agent.ask(q, budget_ms=500)
            self.latencies.append(time.perf_counter() - t0)
            live = [c for c in answer.coverage if c.source == self.source]
            if live and live[0].seen:
                self.covered.append(live[0].seen[0][1])
            k += 1
            self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def summary(self) -> dict:
        lat = self.latencies
        if not lat:
            return {"n": 0}
        return {"n": len(lat), "p50_s": round(statistics.median(lat), 3), "p95_s": round(_percentile(lat, 0.95), 3),
                "max_s": round(max(lat), 3), "answers_covering_s": [round(c, 1) for c in self.covered[:: max(1, len(self.covered) // 8)]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="wall-clock seconds per phase")
    parser.add_argument("--size", default="320x180", help="frame size WxH of the composed video")
    parser.add_argument("--offer", type=float, default=400.0, help="frames/s offered in the capacity phases")
    parser.add_argument("--camera-seconds", type=float, default=120.0,
                        help="a 30 fps camera with default settings for this long (RSS over time, asks); 0 skips it")
    parser.add_argument("--phases", default="capacity,drops,camera", help="which phases to run (comma-separated)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from agentkit import Agent
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    torch.set_num_threads(1)
    w, h = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="live-bench-"))
    needles = [ImageNeedle("coffee", t0=6, duration=2), TextNeedle("NO PARKING", t0=16, duration=2),
               ImageNeedle("chelsea", t0=26, duration=2, name="cat"), TextNeedle("CODE WORD: KUMQUAT", t0=34, duration=2)]
    video = synthesize_video(work / "camera.mp4", 40, size=(w, h), fps=25, needles=needles, seed=21)
    frames, video_fps = _decode(video.path)
    rss = _RssMonitor()
    results = {"machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch threads 1",
               "date": time.strftime("%Y-%m-%d"), "frame_size": f"{w}x{h}", "phase_seconds": args.seconds,
               "rss_after_decode_mb": round(_rss_mb(), 1)}
    with Agent.default(store=work / "store") as agent:
        agent.load_models()
        agent.toolkit.embed_text(["warm up"])
        phases = set(args.phases.split(","))
        for name, skip in (("capacity_skip", True), ("capacity_no_skip", False)):
            if "capacity" not in phases:
                break
            a = rss.now()
            results[name] = _stream(agent, name, frames, video_fps, args.offer, args.seconds, skip=skip)
            results[name].update(rss.window(a, rss.now()))
        results["drops_no_skip"] = {}
        for k in (1, 2, 4) if "capacity" in phases and "drops" in phases else ():
            sustained = results["capacity_no_skip"]["taken_per_s"]
            source = f"drops-{k}x"
            asker = _Asker(agent, source) if k == 2 else None
            a = rss.now()
            row = _stream(agent, source, frames, video_fps, k * sustained, args.seconds, asker=asker, skip=False)
            row.update(rss.window(a, rss.now()))
            if asker is not None:
                results["ask_while_streaming_2x"] = asker.summary()
            results["drops_no_skip"][f"{k}x"] = row
        if args.camera_seconds > 0 and "camera" in phases:
            asker = _Asker(agent, "camera", pause=1.0)
            a = rss.now()
            row = _stream(agent, "camera", frames, video_fps, 30.0, args.camera_seconds, asker=asker)
            b = rss.now()
            row.update(rss.window(a, b))
            row["rss_by_minute_mb"] = [rss.window(a + m * 60.0, a + m * 60.0 + 1.0)["rss_first_mb"]
                                       for m in range(int((b - a) // 60) + 1)]
            row["ask"] = asker.summary()
            results["camera_30fps_default"] = row
        idle = []
        for q in QUESTIONS * 2:
            t0 = time.perf_counter()
            agent.ask(q)
            idle.append(time.perf_counter() - t0)
        results["ask_idle"] = {"n": len(idle), "p50_s": round(statistics.median(idle), 3),
                               "p95_s": round(_percentile(idle, 0.95), 3)}
    rss.stop()
    results["rss_over_run_mb"] = {"first": round(rss.samples[0][1], 1) if rss.samples else None,
                                  "last": round(rss.samples[-1][1], 1) if rss.samples else None,
                                  "max": round(max(v for _, v in rss.samples), 1) if rss.samples else None}
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
