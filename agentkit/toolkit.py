"""What the graph's nodes work with: the store, the models (loaded on first use), and settings.

Kept out of the graph state on purpose: state is checkpointed on every step and holds only small
values; models and the store are live objects.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from agentkit.cache import file_hash
from agentkit.controller.compose import AnswerConfig
from agentkit.controller.match import concept_query
from agentkit.controller.recall import RecallConfig
from agentkit.controller.verify import VerifyConfig
from agentkit.memory_view import MemoryView

__all__ = ["Toolkit", "Perceiver", "ModelChoice", "REFERENCE_VOCABULARY"]

REFERENCE_VOCABULARY = tuple(
    """person man woman child face crowd dog cat bird horse cow fish insect animal tree flower grass
    forest mountain river lake sea beach sky cloud sun snow road street car bus truck bicycle
    motorcycle train boat ship aircraft rocket building house bridge tower city room kitchen table
    chair bed screen computer phone book paper sign text bottle cup plate food fruit ball toy
    clothing hat shoe bag tool machine instrument light fire water rock sand cartoon drawing
    painting logo map planet star night""".split()
)
"""Generic nouns whose mean embedding stands for "anything" when an encoder has no label set."""

logger = logging.getLogger(__name__)

Perceiver = Callable[..., Iterable[Any]]
"""``perceiver(path, *, source, start, fps, progress) -> Iterable[Observation]``."""


@dataclass
class ModelChoice:
    """Which model to load for each role: None is the offline default, else a name or local path."""

    frame_encoder: str | None = None
    ocr: str | None = None
    language_model: str | None = None
    text_embedder: str | None = None
    planner: str | None = None
    """An instruction-tuned causal LM that writes plans as JSON; None plans with the grammar alone."""
    frame_merge_r: int = 0
    """Tokens merged away in each vision layer of a CLIP/SigLIP frame encoder (faster frames);
    0 is the exact model. Off by default: its accuracy cost on real weights is not measured yet."""


@dataclass
class Toolkit:
    """Store, models and settings shared by the nodes of one agent."""

    store_dir: Path
    fps: float = 1.0
    chunk_size: int = 16
    """Observations per store write; progress is flushed after each."""
    models: ModelChoice = field(default_factory=ModelChoice)
    use_ocr: bool = True
    read_only: bool = False
    """Open the store without writing (asking only; several readers may share a store)."""
    progress: Callable[..., None] | None = None
    """Called by perception as it goes (the CLI draws its progress bar from it)."""
    perceiver: Perceiver | None = None
    """Custom perception; None uses `perception.video.observe_video` with the toolkit's models."""
    recall_config: RecallConfig = field(default_factory=RecallConfig)
    answer_config: AnswerConfig = field(default_factory=AnswerConfig)
    verify_config: VerifyConfig = field(default_factory=VerifyConfig)
    lm_kinds: frozenset[str] = frozenset()
    """Question kinds whose answer step uses the language model (to score options, with "choice";
    to phrase descriptions, with "around", "after", "between" and `AnswerConfig.use_lm_phrasing`).
    None by default: on the generated set the offline base model's option scores lowered multiple
    choice accuracy (90 against 95 of 104 fit questions) and cost 1.5-2 s per question on a CPU."""
    verify_cost_s: float = 0.3
    """Running estimate of one verify step's seconds (updated after each): an ask whose budget
    has less left than this skips verification instead of overrunning."""
    calibrator_path: Path | None = None
    """Calibrator JSON (`agentkit eval --fit` writes one); None uses the shipped one."""
    calibrate: bool = True
    """False reports raw evidence scores as confidences (what `agentkit eval` fits on)."""
    live_slots: dict[str, Any] = field(default_factory=dict, repr=False)
    """Source -> online slots (`memory.slot_stream.SlotStream`) of a live stream open on it; summary
    questions read them instead of rebuilding the store's slots (`agentkit.live` keeps this)."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.store_dir = Path(self.store_dir)
        if not isinstance(self.fps, (int, float)) or isinstance(self.fps, bool) or not self.fps > 0:
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, got {self.chunk_size!r}")
        if self.perceiver is None:
            self.perceiver = self._video_perceiver

    # ---- memory -------------------------------------------------------------------------
    @property
    def memory(self) -> MemoryView:
        """The store, opened on first use."""
        if "memory" not in self._cache:
            self._cache["memory"] = MemoryView.open(self.store_dir, create=not self.read_only, read_only=self.read_only)
        return self._cache["memory"]

    def source_id(self, path: str | os.PathLike) -> str:
        """Default source id of a file: its content hash."""
        return file_hash(path)

    # ---- models -------------------------------------------------------------------------
    def _model(self, role: str, loader: Callable[[], Any]) -> Any:
        if role not in self._cache:
            logger.info("loading %s", role)
            self._cache[role] = loader()
        return self._cache[role]

    @property
    def frame_encoder(self) -> Any:
        """Frame encoder (visual + concept vectors, labels); see `agentkit.models`."""
        from agentkit import models

        choice = self.models
        return self._model("frame_encoder", lambda: models.load_frame_encoder(
            choice.frame_encoder, text_embedder=choice.text_embedder, merge_r=choice.frame_merge_r))

    @property
    def ocr(self) -> Any:
        """OCR reader, or None when OCR is off."""
        if not self.use_ocr:
            return None
        from agentkit import models

        return self._model("ocr", lambda: models.load_ocr(self.models.ocr))

    @property
    def language_model(self) -> Any:
        """Causal LM used to phrase answers and score options."""
        from agentkit import models

        return self._model("language_model", lambda: models.load_language_model(self.models.language_model))

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Map phrases into the concept space of stored frames (the frame encoder's text side)."""
        return self.frame_encoder.embed_text(list(texts))

    @property
    def concept_centroid(self) -> np.ndarray | None:
        """Mean embedding of a reference vocabulary in the concept space (hub removal in recall).

        The frame encoder's own label embeddings when it has them (ConSE), else the embeddings of
        a small built-in list of everyday nouns.
        """
        if "centroid" not in self._cache:
            vectors = getattr(self.frame_encoder, "label_vectors", None)
            if vectors is None:
                vectors = self.embed_text(list(REFERENCE_VOCABULARY))
            c = np.asarray(vectors, dtype=np.float32).mean(axis=0)
            self._cache["centroid"] = c
        return self._cache["centroid"]

    @property
    def calibrator(self) -> Any:
        """The `Calibrator` that turns evidence features into P(correct); None when off or unreadable."""
        if not self.calibrate:
            return None
        if "calibrator" not in self._cache:
            from agentkit.calibration import load_calibrator

            self._cache["calibrator"] = load_calibrator(self.calibrator_path)
        return self._cache["calibrator"]

    def _label_sims(self, phrase: str) -> tuple[np.ndarray, dict[str, int], tuple[str, ...]] | None:
        """Cosine of ``phrase`` to each of the frame encoder's label names, name -> index, and the names;
        None when the encoder has no label names (CLIP-style encoders match any phrase).
        The last phrase is kept: one question asks for it twice."""
        vectors = getattr(self.frame_encoder, "label_vectors", None)
        names = getattr(self.frame_encoder, "labels", None)
        if vectors is None or names is None:
            return None
        if "label_index" not in self._cache:
            self._cache["label_index"] = {str(n): i for i, n in enumerate(names)}
        last = self._cache.get("label_sims")
        if last is None or last[0] != phrase:
            q = np.asarray(self.embed_text([phrase]), dtype=np.float32).reshape(-1)
            sims = np.asarray(vectors, dtype=np.float32) @ (q / max(float(np.linalg.norm(q)), 1e-12))
            self._cache["label_sims"] = last = (phrase, sims)
        return last[1], self._cache["label_index"], tuple(str(n) for n in names)

    def vocabulary_match(self, phrase: str, k: int = 3) -> tuple[float | None, list[str]]:
        """How close ``phrase`` comes to any name the frame encoder can give (cosine), and the
        ``k`` nearest names; (None, []) without label names."""
        found = self._label_sims(phrase)
        if found is None:
            return None, []
        sims, _, names = found
        top = np.argsort(-sims)[:k]
        return float(sims[top[0]]), [names[i] for i in top]

    def label_fit(self, phrase: str, labels: dict[str, float]) -> float | None:
        """How well recognised labels carry ``phrase``: the best cosine between the phrase and a
        label holding at least a tenth of the top label's score, minus the phrase's best cosine to
        any name (`vocabulary_match`). 0 when the evidence carries the nearest name; clearly
        negative for a near miss ("lion" asked, "tabby cat" seen). None without label names."""
        found = self._label_sims(phrase)
        if found is None or not labels:
            return None
        sims, index, _ = found
        top = max(labels.values())
        kept = [index[n] for n, v in labels.items() if n in index and v >= 0.1 * top]
        return float(sims[kept].max() - sims.max()) if kept else None

    @property
    def planner(self) -> Any:
        """The language model that writes plans, or None (plans come from the grammar)."""
        if self.models.planner is None and "planner" not in self._cache:
            return None
        from agentkit import models

        return self._model("planner", lambda: models.load_language_model(self.models.planner))

    def set_model(self, role: str, model: Any) -> None:
        """Use an already-built model object for ``role`` (skips loading)."""
        if role not in ("frame_encoder", "ocr", "language_model", "planner"):
            raise ValueError(f"role must be 'frame_encoder', 'ocr', 'language_model' or 'planner', got {role!r}")
        self._cache[role] = model

    # ---- thinking to recall and looking again ---------------------------------------------
    def vocabulary(self, phrase: str) -> Any:
        """``phrase`` in the frame encoder's label names, with its near misses (`Expansion`);
        an empty expansion when the encoder's labels are not the ImageNet-1k classes."""
        from perception.image.hierarchy import Expansion, imagenet_hierarchy

        if "hierarchy" not in self._cache:
            names = tuple(getattr(self.frame_encoder, "labels", None) or ())
            hierarchy = imagenet_hierarchy() if len(names) == 1000 else None
            self._cache["hierarchy"] = hierarchy if hierarchy is not None and hierarchy.labels == names else None
        hierarchy = self._cache["hierarchy"]
        return hierarchy.expand(phrase) if hierarchy is not None else Expansion(phrase)

    def query_vector(self, phrase: str) -> np.ndarray:
        """``phrase`` in the concept space as recall matches it (`concept_query`)."""
        return concept_query(self.embed_text, phrase, self.concept_centroid)

    def source_path(self, source: str) -> str | None:
        """The file a source was indexed from, when memory recorded it and it is still there."""
        p = self.memory.store.get_progress(source) or {}
        path = p.get("path")
        return path if isinstance(path, str) and path and Path(path).is_file() else None

    def look(self, source: str, t0: float, t1: float, n: int) -> list[Any]:
        """Up to ``n`` frames of ``source`` between ``t0`` and ``t1``, decoded at full resolution and
        encoded again (`LookedFrame`); empty when the source file cannot be read."""
        from agentkit.controller.verify import LookedFrame
        from perception.errors import InputError
        from perception.video import iter_frames

        path = self.source_path(source)
        if path is None or n < 1:
            return []
        fps = n / max(t1 - t0, 0.25)
        try:
            images = [(fr.t, fr.image) for fr in iter_frames(path, fps=fps, start=t0, end=t1)][:n]
        except (InputError, OSError) as err:
            logger.warning("could not look at %s again (%s)", path, err)
            return []
        if not images:
            return []
        feats = self.frame_encoder.encode([im for _, im in images])
        concept = getattr(feats, "concept", None)
        return [LookedFrame(t=float(t), labels=dict(feats.labels[i]),
                            concept=None if concept is None else np.asarray(concept[i], dtype=np.float32))
                for i, (t, _) in enumerate(images)]

    # ---- perception ---------------------------------------------------------------------
    def _video_perceiver(self, path, *, source: str, start: float, fps: float, progress=None):
        from perception.video import observe_video

        return observe_video(path, source=source, encoder=self.frame_encoder, ocr=self.ocr, fps=fps,
                             start=start, progress=progress)

    def close(self) -> None:
        """Close the store."""
        mem = self._cache.pop("memory", None)
        if mem is not None:
            mem.close()
