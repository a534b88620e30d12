"""The verify step's decisions on frames looked at again, built by hand (no model, no video)."""
from __future__ import annotations

import numpy as np

from agentkit.controller.findings import CueFinding, ExpansionFinding, Findings
from agentkit.controller.verify import LookedFrame, VerifyConfig, check_span, verify_claims
from agentkit.schemas import Evidence

QUERY = np.array([1.0, 0.0, 0.0], dtype=np.float32)
STATS = {"median": 0.0, "spread": 0.1, "chance_z": 2.0, "n": 100.0}  # z = 10 * cosine
TIGER = ExpansionFinding(phrase="tiger", sense="tiger.n.02", names=["tiger"],
                         near_misses=["lion", "leopard", "tabby cat"])


def _frame(t, cos, labels):
    v = np.array([cos, np.sqrt(max(0.0, 1 - cos * cos)), 0.0], dtype=np.float32)
    return LookedFrame(t=t, labels=labels, concept=v)


def _cue(spans):
    return CueFinding(cue="tiger", kind="concept", confidence=spans[0].score, spans=spans, stats=STATS)


def _span(t0, t1, score=0.9):
    return Evidence(source="s", t0=t0, t1=t1, score=score)


def test_a_claim_whose_frames_show_a_near_miss_is_dropped():
    frames = [_frame(10.0, 0.6, {"lion": 0.8, "tiger": 0.01}), _frame(11.0, 0.5, {"lion": 0.7})]
    check = check_span(_span(10, 12), _cue([_span(10, 12)]), frames, QUERY, TIGER, VerifyConfig(), _match())
    assert check.action == "dropped" and "beside" in check.why and check.near_miss > 0.5


def test_a_claim_the_frames_support_is_kept_and_one_they_place_elsewhere_moves():
    kept = check_span(_span(10, 12), _cue([_span(10, 12)]), [_frame(10.0, 0.7, {"tiger": 0.6}), _frame(11.0, 0.7, {"tiger": 0.5})],
                      QUERY, TIGER, VerifyConfig(), _match())
    assert kept.action == "kept" and (kept.t0, kept.t1) == (10, 12)
    frames = [_frame(t, 0.7 if t >= 14 else 0.0, {"tiger": 0.6} if t >= 14 else {"pole": 0.5}) for t in (10.0, 12.0, 14.0, 16.0)]
    moved = check_span(_span(10, 12), _cue([_span(10, 12)]), frames, QUERY, TIGER, VerifyConfig(), _match())
    assert moved.action == "moved" and moved.t0 == 14.0


def test_no_matching_frame_drops_and_no_frame_at_all_leaves_it_unchecked():
    dull = [_frame(10.0, 0.05, {"tiger": 0.3}), _frame(11.0, 0.0, {"tiger": 0.2})]
    assert check_span(_span(10, 12), _cue([_span(10, 12)]), dull, QUERY, TIGER, VerifyConfig(), _match()).action == "dropped"
    unchecked = check_span(_span(10, 12), _cue([_span(10, 12)]), [], QUERY, TIGER, VerifyConfig(), _match())
    assert unchecked.action == "unchecked"


def test_verify_claims_keeps_the_survivors_in_order_and_lowers_a_dropped_best():
    spans = [_span(10, 12, 0.9), _span(30, 32, 0.6)]
    cue = _cue(spans)
    shown = {10.0: {"lion": 0.9}, 30.0: {"tiger": 0.7}}

    def look(source, t0, t1, n):
        t = round(t0 + 0.5)
        return [_frame(t, 0.7, shown[t])]

    findings = Findings(question="does a tiger appear?", kind="whether", expansion=TIGER, cues=[cue])
    checks = verify_claims(findings, cue, look, QUERY)
    assert [c.action for c in checks] == ["dropped", "kept"]
    assert [(s.t0, s.t1) for s in cue.spans] == [(30, 32)] and cue.confidence < 0.9


def _match():
    from agentkit.controller.match import MatchConfig

    return MatchConfig()
