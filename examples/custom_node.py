"""Swap your own nodes into the agent's LangGraph graph: a perceiver and a stricter answerer.

Indexing runs perceive -> remember; asking runs plan -> recall -> verify -> decide -> compose. Here we
1. plug in our own perception: every sampled frame is encoded by the default frame encoder, and
   we add our own measurement, the frame's brightness, as a "dark"/"bright" label
   (memory stores it like any other label; the graph's perceive node streams it in chunks);
2. insert a node after recall that logs the evidence;
3. replace the compose node with one that abstains unless confidence is at least 0.8.

Usage:
    python examples/custom_node.py VIDEO [--store DIR]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from agentkit import Agent
from agentkit.controller.compose import compose_answer
from perception.types import Observation
from perception.video import iter_frames

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
log = logging.getLogger("custom_node")


def build(store: Path) -> Agent:
    agent = Agent.default(store=store)
    toolkit = agent.toolkit

    def brightness_perceiver(path, *, source, start, fps, progress=None):
        """One observation per sampled frame: default encoder vectors plus a brightness label."""
        for frame in iter_frames(path, fps=fps, start=start):
            image = frame.image
            feats = toolkit.frame_encoder.encode([image])
            level = float(image.mean()) / 255.0
            labels = dict(feats.labels[0])
            labels["dark" if level < 0.3 else "bright"] = 1.0
            if progress is not None:
                progress(frame.t, 0.0)
            yield Observation(source=source, t0=frame.t, t1=frame.t + 1.0 / fps, modality="video",
                              vectors={"visual": feats.visual[0], "concept": feats.concept[0]},
                              labels=labels, meta={"brightness": level})

    def log_evidence(state):
        for cue in state.findings.cues:
            log.info("cue %r (%s): confidence %.2f, %d spans", cue.cue, cue.kind, cue.confidence, len(cue.spans))
        return {}

    def strict_answer(state):
        answer = compose_answer(state.findings, toolkit.language_model, calibrator=toolkit.calibrator)
        if answer.confidence < 0.8 and not answer.abstained:
            answer = answer.model_copy(update={"abstained": True, "text": "Not sure enough: " + answer.text})
        return {"answer": answer}

    toolkit.perceiver = brightness_perceiver
    agent.builder.add_node("log_evidence", log_evidence, after="recall").replace_node("compose", strict_answer)
    agent.rebuild()
    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--store", type=Path, default=Path("custom_store"))
    args = parser.parse_args()
    with build(args.store) as agent:
        print("graph nodes:", agent.builder.nodes)
        report = agent.index(args.video)
        for q in ["When is it dark?", "Does a car appear?"]:
            a = agent.ask(q, source=report.source)
            print(f"{q} -> {a.text} (confidence {a.confidence:.2f}, abstained={a.abstained})")


if __name__ == "__main__":
    main()
