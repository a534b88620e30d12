"""`agentkit eval`: labelled questions (generated or your own), judged answers, calibration numbers.

- `cases`: the cases file format and its reader (errors name the file and line).
- `catalog` + `generate`: the seeded generated set over videos composed from packaged clips.
- `judge`: one rule per question family.
- `run`: index, ask, judge.
- `report`: fit the calibrator and conformal thresholds; summarise and plot.
"""
from agentkit.evaluation.cases import FAMILIES, Case, CaseError, read_cases
from agentkit.evaluation.judge import RULES, judge
from agentkit.evaluation.main import EvalResult, run_eval

__all__ = ["FAMILIES", "RULES", "Case", "CaseError", "EvalResult", "judge", "read_cases", "run_eval"]
