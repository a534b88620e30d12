"""docs/accel.md stays true: every python block in it runs as written (CPU, tiny random models).

The blocks run in order, each in a fresh namespace, from the repository root (the step-caching
example imports our DiT from benchmarks/; its trained weights, which take minutes on a GPU to
make, are replaced here by a randomly initialised DiT saved the same way).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "accel.md").read_text(), flags=re.S)


def test_the_guide_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_guide_example_runs(index, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    if "bench_weights" in BLOCKS[index]:
        monkeypatch.syspath_prepend(str(ROOT))
        import benchmarks.dit.train as dit_train
        from benchmarks.dit.model import DiT, DiTConfig, save_weights

        def random_weights():
            path = tmp_path / "dit32.safetensors"
            save_weights(DiT(DiTConfig()), str(path))
            return path

        monkeypatch.setattr(dit_train, "bench_weights", random_weights)
    exec(compile(BLOCKS[index], f"docs/accel.md block {index}", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out.strip(), "every example prints what it shows"
