"""`Agent`: the graph, its store and its models behind three calls (default, index, ask)."""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agentkit.cache import cache_root
from agentkit.controller.plan import check_question
from agentkit.graph.builder import CHECKPOINT_FILE, AgentGraph, memory_checkpointer, sqlite_checkpointer
from agentkit.graph.state import TURN_RESET
from agentkit.schemas import Answer
from agentkit.toolkit import ModelChoice, Toolkit

if TYPE_CHECKING:
    from agentkit.live import LiveSettings, LiveStream

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
        self._threaded = None
        self._checkpointer = None
        self._live = None

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
        planner: str | None = None,
        frame_merge_r: int = 0,
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
            planner: An instruction-tuned causal LM (name or path) that writes plans as JSON; None
                plans with the grammar alone.
            frame_merge_r: Tokens merged away in each vision layer of a CLIP/SigLIP frame
                encoder (faster indexing, approximate embeddings); 0 is the exact model.
            use_ocr: Read on-screen text while indexing.
            read_only: Open the store for asking only (another process may be writing it).
            calibrator: Calibrator JSON that maps evidence to P(correct); None uses the shipped
                one, False reports raw evidence scores.
        """
        folder = Path(store) if store is not None else cache_root() / "default-store"
        choice = ModelChoice(frame_encoder=frame_encoder, ocr=ocr, language_model=language_model,
                             text_embedder=text_embedder, planner=planner, frame_merge_r=frame_merge_r)
        path = None if calibrator in (None, False, True) else Path(calibrator)
        return cls(Toolkit(store_dir=folder, fps=fps, models=choice, use_ocr=use_ocr, read_only=read_only,
                           calibrator_path=path, calibrate=calibrator is not False))

    # ---- graph --------------------------------------------------------------------------
    @property
    def graph(self):
        """The compiled LangGraph graph, without checkpoints (indexing and one-off questions).

        To change it, edit ``agent.builder`` (``replace_node``, ``add_node``) and call
        ``agent.rebuild()``.
        """
        if self._graph is None:
            self.rebuild()
        return self._graph

    @property
    def conversations(self):
        """The same graph compiled with a checkpointer: one thread per conversation, kept in
        ``<store>/checkpoints.sqlite`` (in this process only when the folder cannot be written)."""
        if self._threaded is None:
            if self._checkpointer is None:
                self.toolkit.memory  # the store first: it refuses a fresh folder that already holds files
                try:
                    self._checkpointer = sqlite_checkpointer(self.toolkit.store_dir)
                except (OSError, sqlite3.Error) as err:
                    logger.warning("conversations are kept in memory only: cannot write %s (%s)",
                                   self.toolkit.store_dir, err)
                    self._checkpointer = memory_checkpointer()
            self._threaded = self.builder.compile(checkpointer=self._checkpointer)
        return self._threaded

    def rebuild(self) -> "Agent":
        """Compile ``self.builder`` again (after adding or swapping nodes)."""
        self._graph = self.builder.compile()
        self._threaded = None
        return self

    # ---- public calls -------------------------------------------------------------------
    def index(self, path: str | os.PathLike, *, source: str | None = None, fps: float | None = None,
              progress: Callable[..., None] | None = None, chunk_size: int | None = None) -> IndexReport:
        """Index a file into memory; resumes an interrupted run and never duplicates records.

        Args:
            path: Video file (any format PyAV can open), or what a custom perceiver reads.
            source: Source id to store it under; default is the file's content hash.
            fps: Sampling rate; default is the agent's.
            progress: Callback for perception progress (see `perception.video.observe_video`).
            chunk_size: Segments per store write (progress is saved after each); default 16.

        Raises:
            perception.errors.InputError: The file cannot be read as a video.
            memory.errors.StoreError: The store cannot be written.
        """
        path = os.fspath(path)
        src = source or self.toolkit.source_id(path)
        if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if chunk_size is not None:
            if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
                raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
            self.toolkit.chunk_size = chunk_size
        previous, self.toolkit.progress = self.toolkit.progress, progress or self.toolkit.progress
        try:
            self.toolkit.memory  # open (or refuse) the store before the graph runs
            out = self.graph.invoke({"path": path, "source": src, "fps": float(fps or self.toolkit.fps)})
        finally:
            self.toolkit.progress = previous
        return IndexReport(source=out["source"], n_new=int(out.get("n_new", 0)),
                           n_records=int(out.get("n_records", 0)), indexed_until=float(out.get("indexed_until", 0.0)))

    def ask(self, question: str, options: list[str] | None = None, *, source: str | None = None,
            thread: str | None = None, on_step: Callable[[str, str], None] | None = None,
            budget_ms: float | None = None) -> Answer:
        """Answer a question from memory.

        Args:
            question: The question (at most 2,000 characters); multiple-choice options may be
                written in it as "(a) ... (b) ...".
            options: Multiple-choice options given apart from the question.
            source: Only consider this source id; None uses every source in memory.
            thread: Name of a conversation: follow-ups ("and the lion?", "and after that?") resolve
                against its earlier turns, kept in the store folder. None asks a one-off question,
                which writes nothing.
            on_step: Called as ``on_step(node, what_it_did)`` while the controller runs (progress).
            budget_ms: Time the caller can wait (e.g. a robot's control loop). The answer rests on
                what memory holds when the question arrives; a live stream goes on being perceived
                meanwhile. The optional steps give way to it: when less of the budget is left than
                looking at the evidence frames again takes (a running estimate), verification is
                skipped and ``answer.notices`` says so, and no second recall pass starts after it
                has run out. Recall itself is not cut short; an answer that still took longer says
                so in ``answer.notices``.

        Safe to call from another thread while a live stream (`live`, `observe`) is perceiving;
        ``answer.coverage`` then says which stream time memory covered.

        Raises:
            TypeError, ValueError: The question is not text, is empty or is too long; bad options.
        """
        if budget_ms is not None and (isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float))
                                      or not budget_ms > 0):
            raise ValueError(f"budget_ms must be a positive number of milliseconds, got {budget_ms!r}")
        started = time.perf_counter()
        question = check_question(question)
        if options is not None and (isinstance(options, str) or not all(isinstance(o, str) for o in options)):
            raise TypeError("options must be a list of strings")
        if thread is not None and (not isinstance(thread, str) or not thread.strip()):
            raise ValueError(f"thread must be a non-empty string, got {thread!r}")
        self.toolkit.memory  # open (or refuse) the store before the graph runs
        state = {"question": question, "options": list(options or []), "ask_source": source or "",
                 "thread": thread or "", **TURN_RESET,
                 "deadline": time.time() + budget_ms / 1000.0 if budget_ms is not None else 0.0}
        graph = self.conversations if thread else self.graph
        config = {"configurable": {"thread_id": f"chat:{thread}"}, "recursion_limit": 50} if thread else \
            {"recursion_limit": 50}
        if on_step is None:
            out = graph.invoke(state, config)
        else:  # stream each node's update as it lands, and keep the last full state
            out, seen = {}, 0
            for mode, chunk in graph.stream(state, config, stream_mode=["updates", "values"]):
                if mode == "values":
                    out = chunk
                    continue
                for node, values in chunk.items():
                    steps = values.get("steps") if isinstance(values, dict) else None
                    for line in (steps or [])[seen:]:
                        on_step(node, line)
                    seen = len(steps) if steps else seen
        answer = out["answer"]
        answer = answer if isinstance(answer, Answer) else Answer.model_validate(answer)
        live = self._live
        if live is not None and (source is None or source == live.source):
            from agentkit.live import live_answer

            answer = live_answer(answer, live)
        if budget_ms is not None and (spent := 1000.0 * (time.perf_counter() - started)) > budget_ms:
            answer = answer.model_copy(update={"notices": [*answer.notices,
                                                           f"took {spent:.0f} ms, over the budget of {budget_ms:g} ms"]})
        return answer

    # ---- live streams -------------------------------------------------------------------
    def live(self, source: str = "live", settings: "LiveSettings | None" = None, **options: Any) -> "LiveStream":
        """Open a live stream into memory (robots, cameras); see `agentkit.live`.

        Args:
            source: Source id of the stream in memory.
            settings: Queueing and perception settings (`agentkit.live.LiveSettings`).
            **options: Fields of `LiveSettings` (``queue_size=8, max_fps=5.0, ...``) over ``settings``.

        Returns:
            The `LiveStream` (also what `observe` feeds until it is closed). Use it as a context
            manager, or call its ``close()``; `close` on the agent closes it too.

        Raises:
            LiveStreamError: Another live stream of this agent is still open.
        """
        from dataclasses import replace as _replace

        from agentkit.live import LiveSettings, LiveStream, LiveStreamError

        if self._live is not None and not self._live.closed:
            raise LiveStreamError(f"live stream {self._live.source!r} is still open: close it first")
        base = settings if settings is not None else LiveSettings()
        self._live = LiveStream(self.toolkit, source, _replace(base, **options) if options else base)
        return self._live

    def observe(self, frame: Any, t: float | None = None) -> bool:
        """Hand one live frame (RGB uint8 ``(H, W, 3)`` or a PyAV VideoFrame) at stream time ``t``
        to perception, opening the default live stream (`live`) on first use; see
        `agentkit.live.LiveStream.observe`."""
        if self._live is None:
            self.live()
        return self._live.observe(frame, t)

    def source_id(self, path: str | os.PathLike) -> str:
        """The source id a file is (or would be) stored under: its content hash."""
        return self.toolkit.source_id(path)

    def progress(self, source: str) -> tuple[float, bool]:
        """(seconds of ``source`` held in memory, whether it is complete)."""
        return self.toolkit.memory.progress(source)

    def load_models(self) -> "Agent":
        """Load now what questions load on first use: the frame encoder, OCR, the text side of the
        concept space, the label hierarchy and the calibrator. Before timing, and before answering
        on several threads at once (so no two threads load the same model)."""
        tk = self.toolkit
        tk.frame_encoder
        tk.ocr
        tk.concept_centroid
        tk.vocabulary("cat")
        tk.calibrator
        return self

    def threads(self) -> list[str]:
        """Names of the conversations kept in this store (newest last)."""
        if self._checkpointer is None and not (self.toolkit.store_dir / CHECKPOINT_FILE).exists():
            return []
        names: list[str] = []
        for item in self.conversations.checkpointer.list(None):
            tid = item.config["configurable"].get("thread_id", "")
            if tid.startswith("chat:") and tid[5:] not in names:
                names.append(tid[5:])
        return names[::-1]

    def close(self) -> None:
        """Close the live stream (writing what it queued), the store and the checkpoint database."""
        live, self._live = self._live, None
        try:
            if live is not None:
                live.close()
        finally:
            self.toolkit.close()
            if self._checkpointer is not None:
                conn = getattr(self._checkpointer, "conn", None)
                if conn is not None:
                    conn.close()
                self._checkpointer = None
            self._graph = self._threaded = None

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
