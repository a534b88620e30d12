"""A summary question about an open live stream reads the stream's online slots
(`memory.slot_stream`), not slots rebuilt from the store; after close the store's slots apply.

Uses the stand-in frame encoder of test_live.py (no model is loaded): frames of one colour per
block, labelled by their dominant colour.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_live import LIVE, StandInEncoder, _agent  # noqa: E402

COLOURS = {"red thing": (220, 30, 30), "green thing": (30, 220, 30), "blue thing": (30, 30, 220)}


class ColourEncoder(StandInEncoder):
    """The stand-in encoder, labelling each frame by its dominant colour."""

    def encode(self, images):
        feats = super().encode(images)
        names = list(COLOURS)
        feats.labels = [{names[int(np.argmax(np.asarray(im, np.float32).mean(axis=(0, 1))))]: 0.9}
                        for im in images]
        return feats


def _frame(colour, i):
    img = np.empty((36, 64, 3), np.uint8)
    img[:] = colour
    img[0, 0] = (i * 37) % 256  # frames differ a little
    return img


def test_summary_of_an_open_stream_reads_its_online_slots(tmp_path, monkeypatch):
    import memory.slot_files

    with _agent(tmp_path / "s", ColourEncoder()) as agent:
        stream = agent.live(LIVE, skip=False, chunk_size=4, queue_size=64)
        for i in range(36):
            stream.observe(_frame(list(COLOURS.values())[i // 12], i), float(i))
        stream.flush(timeout=60)
        store_slots = memory.slot_files.load_slots

        def no_rebuild(*args, **kwargs):
            raise AssertionError("an open stream's summary rebuilt slots from the store")

        monkeypatch.setattr(memory.slot_files, "load_slots", no_rebuild)
        a = agent.ask("What happens in this video?", source=LIVE)
        assert a.kind == "summary" and not a.value.declined, a.text
        snap = stream.slots.snapshot()
        assert snap.n_segments == stream.stats().written == 35  # the newest segment is still open
        assert [max(d, key=d.get) for d in snap.scenes.labels] == list(COLOURS)
        assert snap.scenes.children[:, 0].tolist() == [0, 12, 24]
        assert set(a.value.labels) == set(COLOURS) and "red thing" in a.text
        assert max(e.t1 for e in a.evidence) == 35.0  # up to what memory holds, not the open segment
        assert not (tmp_path / "s" / "slots").exists()

        stream.close()
        monkeypatch.setattr(memory.slot_files, "load_slots", store_slots)
        b = agent.ask("What happens in this video?", source=LIVE)
        assert (tmp_path / "s" / "slots").exists()  # built from the store, now that it is complete
        assert set(b.value.labels) == set(COLOURS) and max(e.t1 for e in b.evidence) > 35.0
