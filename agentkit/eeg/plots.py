"""Band-power timeline with artifact marks, drawn off-screen (Agg) to a PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.eeg.features import BANDS, relative_power
from perception.eeg.pipeline import EEGAnalysis
from perception.files import atomic_path

_COLORS = {"flat": "#7f7f7f", "clipped": "#d62728", "missing": "#000000", "burst": "#ff7f0e", "blink": "#1f77b4"}


def plot_timeline(a: EEGAnalysis, path: str | Path, *, title: str | None = None) -> Path:
    """Relative band power over time (stacked) and artifact spans below it; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rel = np.nan_to_num(relative_power(a.features))
    t = a.times + a.window_s / 2
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 4.5), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ax.stackplot(t, rel.T, labels=list(BANDS), alpha=0.85)
    ax.set_ylabel("relative power")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=7, ncol=5)
    ax.set_title(title or Path(a.path).name, fontsize=9)
    kinds = sorted({x.kind for x in a.artifacts if not x.kind.startswith("ica:")})
    for row, kind in enumerate(kinds):
        for x in (x for x in a.artifacts if x.kind == kind):
            ax2.axvspan(x.t0, x.t1, ymin=row / max(1, len(kinds)), ymax=(row + 1) / max(1, len(kinds)),
                        color=_COLORS.get(kind, "#9467bd"))
            ax.axvspan(x.t0, x.t1, color=_COLORS.get(kind, "#9467bd"), alpha=0.08)
    ax2.set_yticks([(i + 0.5) / max(1, len(kinds)) for i in range(len(kinds))], kinds, fontsize=7)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("time (s)")
    ax2.set_xlim(0, a.duration)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return path
