"""The reasoning-to-recall controller: question -> cues -> evidence from memory -> answer.

- `cues`: parse a question into recall cues (phrases, code words, times, options).
- `match`: match one cue against memory (concept similarity, on-screen text, labels, time).
- `recall`: fetch the evidence for all cues of a question (`Findings`, JSON-able).
- `compose`: turn findings into an `Answer` with spans, confidence and abstention.
- `prompts`: completion-style prompts; untrusted text only inside a quoted evidence block.

Modality-agnostic: it reads memory records through `evidence.MemoryReader`.
"""
from agentkit.controller.compose import AnswerConfig, compose_answer
from agentkit.controller.cues import Cues, QuestionKind, parse_question
from agentkit.controller.evidence import MemoryReader, Record
from agentkit.controller.findings import Findings
from agentkit.controller.recall import RecallConfig

# `recall` (the function) stays in its module: the name here is the submodule.
__all__ = ["AnswerConfig", "Cues", "Findings", "MemoryReader", "QuestionKind", "RecallConfig", "Record",
           "compose_answer", "parse_question"]
