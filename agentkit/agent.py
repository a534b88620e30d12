"""`Agent`: the graph, its store and its models behind three calls (default, index, ask)."""
from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agentkit.cache import cache_root
from agentkit.graph.builder import AgentGraph, sqlite_checkpointer
from agentkit.schemas import Answer
from agentkit.toolkit import ModelChoice, Toolkit

__all__ = ["Agent", "IndexReport"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What one `Agent.index` call did."""

    source: str
    """Source id in memory."""
    n_new: int
    """Records added by this call (0 when the source was already complete)."""
    n_records: int
    """Records of this source in memory now."""
    indexed_until: float
    """Seconds of the source held in memory."""


class Agent:
    """Perceive, remember, recall, answer: a compiled LangGraph graph over a persistent store.

    Example:
        ```python
        from agentkit import Agent

        agent = Agent.default(store="my_store")
        agent.index("clip.mp4")
        answer = agent.ask("when does the cat appear?")
        print(answer.text, answer.confidence)
        ```
    """

    def __init__(self, toolkit: Toolkit, builder: AgentGraph | None = None):
        if not isinstance(toolkit, Toolkit):
            raise TypeError(f"toolkit must be a Toolkit, got {type(toolkit).__name__}")
        self.toolkit = toolkit
        self.builder = builder if builder is not None else AgentGraph(toolkit)
        self._graph = None
        self._checkpointer = None

    @classmethod
    def default(
        cls,
        store: str | os.PathLike | None = None,
        *,
        fps: float = 1.0,
        frame_encoder: str | None = None,
        language_model: str | None = None,
        ocr: str | None = None,
        text_embedder: str | None = None,
        use_ocr: bool = True,
        read_only: bool = False,
        calibrator: str | os.PathLike | None | bool = None,
    ) -> "Agent":
        """An agent with the offline default models (or the ones named), storing in ``store``.

        Args:
            store: Store folder; None uses ``<cache root>/default-store``.
            fps: Frames per second that perception samples.
            frame_encoder, language_model, ocr, text_embedder: Model names or local paths; None
                picks the offline default (see docs/models.md).
            use_ocr: Read on-screen text while indexing.
            read_only: Open the store for asking only (another process may be writing it).
            calibrator: Calibrator JSON that maps evidence to P(correct); None uses the shipped
                one, False reports raw evidence scores.
        """
        folder = Path(store) if store is not None else cache_root() / "default-store"
        choice = ModelChoice(frame_encoder=frame_encoder, ocr=ocr, language_model=language_model,
                             text_embedder=text_embedder)
        path = None if calibrator in (None, False, True) else Path(calibrator)
        return cls(Toolkit(store_dir=folder, fps=fps, models=choice, use_ocr=use_ocr, read_only=read_only,
                           calibrator_path=path, calibrate=calibrator is not False))

    # ---- graph --------------------------------------------------------------------------
    @property
    def graph(self):
        """The compiled LangGraph graph (checkpoints in ``<store>/checkpoints.sqlite``).

        To change it, edit ``agent.builder`` (``replace_node``, ``add_node``) and call
        ``agent.rebuild()``.
        """
        if self._graph is None:
            self.rebuild()
        return self._graph

    def rebuild(self) -> "Agent":
        """Compile ``self.builder`` again (after adding or swapping nodes)."""
        if self._checkpointer is None:
            self.toolkit.memory  # the store first: it refuses a fresh folder that already holds files
            self._checkpointer = sqlite_checkpointer(self.toolkit.store_dir)
        self._graph = self.builder.compile(checkpointer=self._checkpointer)
        return self

    def _run(self, state: dict[str, Any], thread: str) -> dict[str, Any]:
        config = {"configurable": {"thread_id": thread}, "recursion_limit": 100}
        return self.graph.invoke(state, config)

    # ---- public calls -------------------------------------------------------------------
    def index(self, path: str | os.PathLike, *, source: str | None = None, fps: float | None = None,
              progress: Callable[..., None] | None = None) -> IndexReport:
        """Index a file into memory; resumes an interrupted run and never duplicates records.

        Args:
            path: Video file (any format PyAV can open), or what a custom perceiver reads.
            source: Source id to store it under; default is the file's content hash.
            fps: Sampling rate; default is the agent's.
            progress: Callback for perception progress (see `perception.video.observe_video`).

        Raises:
            perception.errors.InputError: The file cannot be read as a video.
            memory.errors.StoreError: The store cannot be written.
        """
        path = os.fspath(path)
        src = source or self.toolkit.source_id(path)
        if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        previous, self.toolkit.progress = self.toolkit.progress, progress or self.toolkit.progress
        try:
            out = self._run({"path": path, "source": src, "fps": float(fps or self.toolkit.fps)}, f"index:{src}")
        finally:
            self.toolkit.progress = previous
        return IndexReport(source=out["source"], n_new=int(out.get("n_new", 0)),
                           n_records=int(out.get("n_records", 0)), indexed_until=float(out.get("indexed_until", 0.0)))

    def ask(self, question: str, options: list[str] | None = None, *, source: str | None = None) -> Answer:
        """Answer a question from memory.

        Args:
            question: The question; multiple-choice options may be written in it as "(a) ... (b) ...".
            options: Multiple-choice options given apart from the question.
            source: Only consider this source id; None uses every source in memory.
        """
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"question must be a non-empty string, got {question!r}")
        if options is not None and (isinstance(options, str) or not all(isinstance(o, str) for o in options)):
            raise TypeError("options must be a list of strings")
        state = {"question": question, "options": list(options or []), "ask_source": source or ""}
        out = self._run(state, f"ask:{uuid.uuid4().hex}")
        return Answer.model_validate(out["answer"])

    def close(self) -> None:
        """Close the store and the checkpoint database."""
        self.toolkit.close()
        if self._checkpointer is not None:
            self._checkpointer.conn.close()
            self._checkpointer = None
            self._graph = None

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
