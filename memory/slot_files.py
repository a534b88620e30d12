"""Latent slots saved beside the store, rebuilt from it whenever the store has changed.

The store is the source of truth; slot files are a cache of it. Per source, in ``<store>/slots/``:

* ``<key>.npz``: every array (spans, counts, member ranges, pooled vectors, exemplars), numpy's
  zip of ``.npy`` files, written and read without pickle;
* ``<key>.json``: labels, first times, texts, the config, the fingerprint of the store content
  the slots were built from, and the SHA-256 of the ``.npz`` written with it.

``<key>`` is a hash of the source id (any text is a valid id; a file name is not). Both files are
written atomically, arrays first. A cache whose fingerprint, config or array hash differs, or
that cannot be read, is rebuilt (and rewritten when the store is writable).

The fingerprint hashes each segment's id and time span. Segments are never edited in place and
ids are never reused, so any add or removal changes it, and reading it needs no vectors.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from memory.atomic import write_bytes_atomic
from memory.slots import LEVELS, SlotConfig, SlotLevel, SlotMemory, build_slots

__all__ = ["FORMAT", "SLOTS_DIR", "fingerprint", "load_slots", "read_slots", "save_slots", "slot_paths"]

logger = logging.getLogger(__name__)

FORMAT = "agentkit-slots/1"
SLOTS_DIR = "slots"


def fingerprint(segments: list[Any], config: SlotConfig) -> str:
    """SHA-256 of the segments' ids and spans (time order) and the slot config."""
    h = hashlib.sha256(FORMAT.encode())
    h.update(json.dumps(config.to_json(), sort_keys=True).encode())
    h.update(np.asarray([int(s.id) for s in segments], dtype=np.int64).tobytes())
    h.update(np.asarray([(float(s.t0), float(s.t1)) for s in segments], dtype=np.float64).tobytes())
    return h.hexdigest()


def slot_paths(store_path: str | Path, source: str) -> tuple[Path, Path]:
    """(arrays file, JSON file) of ``source``'s slots beside the store in ``store_path``."""
    key = hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]
    folder = Path(store_path) / SLOTS_DIR
    return folder / f"{key}.npz", folder / f"{key}.json"


def save_slots(store_path: str | Path, slots: SlotMemory) -> None:
    """Write ``slots`` beside the store atomically (arrays, then the JSON that vouches for them)."""
    npz_path, json_path = slot_paths(store_path, slots.source)
    npz_path.parent.mkdir(exist_ok=True)
    arrays = {f"{lvl}/{name}": a for lvl in LEVELS for name, a in slots.level(lvl).arrays().items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    write_bytes_atomic(npz_path, data)
    meta = {
        "format": FORMAT, "source": slots.source, "fingerprint": slots.fingerprint,
        "arrays_sha256": hashlib.sha256(data).hexdigest(), "config": slots.config.to_json(),
        "n_segments": slots.n_segments, "spaces": list(slots.spaces), "threshold": slots.threshold,
        "levels": {lvl: {"labels": slots.level(lvl).labels, "first": slots.level(lvl).first,
                         "texts": slots.level(lvl).texts} for lvl in LEVELS},
    }
    write_bytes_atomic(json_path, json.dumps(meta, separators=(",", ":")).encode("utf-8"))


def read_slots(store_path: str | Path, source: str, *, expect: str | None = None,
               config: SlotConfig | None = None) -> SlotMemory | None:
    """The saved slots of ``source``, or None when missing, unreadable, of another format, built
    from other store content than ``expect`` (a fingerprint), or with another ``config``."""
    npz_path, json_path = slot_paths(store_path, source)
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("source") != source:
            return None
        if expect is not None and meta.get("fingerprint") != expect:
            return None
        if config is not None and meta.get("config") != config.to_json():
            return None
        data = npz_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("arrays_sha256"):
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        return _from_saved(meta, arrays)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        logger.debug("slot cache of %r unreadable (%s); rebuilding", source, err)
        return None


def _from_saved(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SlotMemory:
    levels = {}
    for lvl in LEVELS:
        a = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(lvl + "/")}
        m = meta["levels"][lvl]
        levels[lvl] = SlotLevel(
            a["t0"], a["t1"], a["count"], a["children"],
            {k[4:]: v for k, v in a.items() if k.startswith("vec.")},
            {k[3:]: v for k, v in a.items() if k.startswith("ex.")}, a["ex_offsets"],
            [dict(d) for d in m["labels"]], [dict(d) for d in m["first"]],
            [[(str(t), float(x)) for t, x in row] for row in m["texts"]])
    return SlotMemory(str(meta["source"]), SlotConfig(**meta["config"]), levels["scene"], levels["chapter"],
                      int(meta["n_segments"]), tuple(meta["spaces"]), float(meta["threshold"]),
                      fingerprint=str(meta["fingerprint"]))


def load_slots(store: Any, source: str, config: SlotConfig = SlotConfig(), *, save: bool = True) -> SlotMemory:
    """``source``'s slots: from the cache beside ``store`` when it matches the store's content,
    else built from the store's segments (and saved, when ``save`` and the store is writable).

    Args:
        store: An open `memory.store.EpisodicStore`.
        source: Source id.
        config: Slot config (a cache built with another is rebuilt).
        save: Write a rebuilt cache.

    Returns:
        The slots; ``stats["rebuilt"]`` is 1.0 when they were built now, else 0.0.
    """
    segments = store.segments(source)
    fp = fingerprint(segments, config)
    cached = read_slots(store.path, source, expect=fp, config=config)
    if cached is not None:
        cached.stats["rebuilt"] = 0.0
        return cached
    full = store.get([s.id for s in segments], vectors=True) if segments else []
    slots = build_slots(full, config, source=source)
    slots.fingerprint = fp
    slots.stats["rebuilt"] = 1.0
    if save and not getattr(store, "read_only", False):
        try:
            save_slots(store.path, slots)
        except OSError as err:
            logger.warning("cannot save slots beside %s (%s); they are rebuilt next time", store.path, err)
    return slots
