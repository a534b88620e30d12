"""The reasoning-to-recall controller: question -> plan -> evidence from memory -> checks -> answer.

- `plan`: a question as a typed plan of recall operators (the grammar planner).
- `lm_plan`: the same plan written by a plugged language model as JSON, checked by the schema.
- `follow_up`: rewrite a follow-up question against the previous turn of a conversation.
- `match`: match one cue against memory (concept similarity, on-screen text, labels, time).
- `recall`: fetch the evidence for a plan (`Findings`, JSON-able).
- `verify`: look at the evidence frames again and keep, move or drop each claim.
- `compose`: turn findings into an `Answer` with spans, confidence and abstention (the
  whole-timeline composers in `timeline`, what all composers share in `draft`).
- `prompts`: completion-style prompts; untrusted text only inside a quoted evidence block.

Modality-agnostic: it reads memory records through `evidence.MemoryReader`.
"""
from agentkit.controller.compose import AnswerConfig, compose_answer
from agentkit.controller.evidence import MemoryReader, Record
from agentkit.controller.findings import Findings
from agentkit.controller.plan import Plan, QuestionKind, parse_question
from agentkit.controller.recall import RecallConfig

# `recall` (the function) stays in its module: the name here is the submodule.
__all__ = ["AnswerConfig", "Findings", "MemoryReader", "Plan", "QuestionKind", "RecallConfig", "Record",
           "compose_answer", "parse_question"]
