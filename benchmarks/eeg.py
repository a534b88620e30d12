"""EEG benchmark: time and peak memory per stage on a 1 h, 64-channel, 256 Hz EDF, and UEA accuracy/ECE.

Usage:
    python benchmarks/eeg.py                 # everything
    python benchmarks/eeg.py --part memory   # only the 1 h file stages
    python benchmarks/eeg.py --part uea      # only the UEA table
    python benchmarks/eeg.py --part temperature   # temperature on a held-out quarter vs k-fold (not in "all")

Each stage of the memory part runs in a fresh subprocess, so its peak RSS (ru_maxrss) belongs to
that stage alone; the baseline is the same process's RSS after its imports. The 1 h file is
generated once and cached under $AGENTKIT_CACHE/bench (default ~/.cache/agentkit/bench).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perception.cache import cache_root  # noqa: E402  (after the path set-up above)

CACHE = cache_root() / "bench"
SECONDS, N_CH, SFREQ = 3600, 64, 256
NAMES_64 = ("Fp1 Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCz FC2 FC4 FC6 FT8 "
            "T7 C5 C3 C1 Cz C2 C4 C6 T8 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 P7 P5 P3 P1 Pz P2 P4 P6 P8 "
            "PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz FT9 FT10 TP9").split()


def make_long_edf() -> Path:
    """1 h x 64 ch x 256 Hz: noise + random walk, posterior alpha in alternating minutes, 50 Hz mains, blinks."""
    from perception.eeg.edf import write_edf

    path = CACHE / "eeg_1h_64ch_256hz.edf"
    truth_path = path.with_suffix(".truth.json")
    if path.exists() and truth_path.exists():
        return path
    truth = {"blinks": [], "alpha_minutes": []}
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    post = [i for i, c in enumerate(NAMES_64) if c[0] in "PO" or c.startswith("Iz")]

    def chunks():
        walk = np.zeros((N_CH, 1))
        for m in range(SECONDS // 60):
            t = m * 60 + np.arange(60 * SFREQ) / SFREQ
            x = rng.normal(0, 8, (N_CH, t.size))
            w = np.cumsum(rng.normal(0, 0.3, (N_CH, t.size)), axis=1) + walk
            walk = w[:, -1:] * 0.99
            x += w - w.mean(1, keepdims=True)
            if m % 2:
                x[post] += 25 * np.sin(2 * np.pi * 10 * t)
                truth["alpha_minutes"].append(m)
            x += 10 * np.sin(2 * np.pi * 50 * t)
            for b in rng.uniform(0, 60, 3):
                x[:4] += 150 * np.exp(-((t - m * 60 - b) / 0.08) ** 2)
                truth["blinks"].append(m * 60 + float(b))
            yield x

    write_edf(path, chunks(), SFREQ, NAMES_64)
    truth_path.write_text(json.dumps(truth))
    return path


def run_detection() -> dict:
    """What the report finds on the 1 h file against what was injected."""
    import warnings

    from agentkit.eeg.report import alpha_episodes
    from perception.eeg import analyze, open_recording

    path = make_long_edf()
    truth = json.loads(path.with_suffix(".truth.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = analyze(open_recording(path))
    found = sorted((b.t0 + b.t1) / 2 for b in a.artifacts if b.kind == "blink")
    true = np.array(sorted(truth["blinks"]))
    hit = sum(bool(found) and np.min(np.abs(np.array(found) - t)) < 0.2 for t in true)
    false = sum(np.min(np.abs(true - f)) >= 0.2 for f in found)
    episodes, _ = alpha_episodes(a, ~a.window_artifact_mask())
    onsets = np.array([e[0] for e in episodes])
    expected = np.array([m * 60.0 for m in truth["alpha_minutes"]])
    err = [float(np.min(np.abs(onsets - e))) for e in expected] if len(onsets) else []
    row = {"mains": a.recipe.mains, "blinks_true": len(true), "blinks_found": len(found), "blinks_hit": int(hit),
           "blinks_false": int(false), "alpha_true": len(expected), "alpha_found": len(episodes),
           "alpha_onset_err_max_s": max(err) if err else None, "alpha_onset_err_median_s": float(np.median(err)) if err else None}
    print(json.dumps(row), flush=True)
    return row


STAGE_CODE = r"""
import json, os, resource, sys, time, warnings
warnings.simplefilter("ignore")
stage, path = sys.argv[1], sys.argv[2]
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import numpy as np
if stage.startswith("mne"):
    import mne
else:
    from perception.eeg import Recipe, analyze, open_recording
    from perception.eeg.recipe import Preprocessor
    from perception.eeg.features import Windower, window_features
base = rss_mb()
t0 = time.perf_counter()
if stage == "read":
    rec = open_recording(path)
    n = sum(c.shape[1] for _, c in rec.iter_chunks(60.0))
elif stage == "preprocess":
    rec = open_recording(path)
    pre = Preprocessor(Recipe().resolve(rec), rec)
    n = sum(c.shape[1] for _, c in pre.stream(60.0))
elif stage == "features":
    rec = open_recording(path)
    pre = Preprocessor(Recipe().resolve(rec), rec)
    win = Windower(pre.sfreq, 2.0, 1.0)
    n = 0
    for _, c in pre.stream(60.0):
        t, w = win.push(c)
        if len(t):
            window_features(w, pre.sfreq, 45.0)
            n += len(t)
elif stage == "artifacts":
    from perception.eeg.artifacts import ArtifactConfig, burst_flags, detect_blinks, raw_window_flags
    cfg = ArtifactConfig()
    rec = open_recording(path)
    pre = Preprocessor(Recipe().resolve(rec), rec)
    win, raw_win = Windower(pre.sfreq, 2.0, 1.0), Windower(rec.sfreq, 2.0, 1.0)
    n = 0
    for (t_chunk, c), (_, r) in zip(pre.stream(60.0), rec.iter_chunks(60.0)):
        n += len(detect_blinks(c, pre.sfreq, pre.ch_names, t_chunk, cfg))
        _, w = win.push(c)
        _, rw = raw_win.push(r[pre.picks])
        for b in range(0, len(w), 16):
            burst_flags(w[b:b + 16], cfg)
            raw_window_flags(rw[b:b + 16], rec.clip_range[pre.picks], cfg)
elif stage == "full":
    a = analyze(open_recording(path))
    n = len(a.times)
elif stage == "mne_preload":
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    n = raw.n_times
elif stage == "mne_chunked":
    raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
    step = int(60 * raw.info["sfreq"])
    n = 0
    for s in range(0, raw.n_times, step):
        n += raw.get_data(start=s, stop=min(raw.n_times, s + step)).shape[1]
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"stage": stage, "seconds": dt, "base_mb": base, "peak_mb": peak, "n": int(n)}))
"""


def run_memory() -> list[dict]:
    path = make_long_edf()
    size_mb = path.stat().st_size / 2 ** 20
    rows = []
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for stage in ("read", "preprocess", "features", "artifacts", "full", "mne_chunked", "mne_preload"):
        out = subprocess.run([sys.executable, "-c", STAGE_CODE, stage, str(path)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            rows.append({"stage": stage, "error": out.stderr.strip().splitlines()[-1]})
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["file_mb"] = size_mb
        row["peak_over_file"] = row["peak_mb"] / size_mb
        row["growth_over_file"] = (row["peak_mb"] - row["base_mb"]) / size_mb
        row["x_realtime"] = SECONDS / row["seconds"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def fit_logistic_cv(F, y, n_classes, grid=(0.01, 0.1, 1.0, 10.0, 100.0), folds=5, seed=0):
    """Pick the L2 strength by k-fold NLL on the fit split, then fit on all of it."""
    from perception.eeg.classify import evaluate, fit_logistic

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    parts = np.array_split(order, folds)
    best, best_l2 = np.inf, grid[0]
    for l2 in grid:
        nll = 0.0
        for k in range(folds):
            te = parts[k]
            tr = np.concatenate([parts[j] for j in range(folds) if j != k])
            m = fit_logistic(F[tr], y[tr], n_classes, l2=l2)
            nll += evaluate(m.predict_logits(F[te]), y[te])["nll"] * len(te)
        if nll < best:
            best, best_l2 = nll, l2
    return fit_logistic(F, y, n_classes, l2=best_l2), best_l2


TRANSFORMER_GRID = {  # candidate shapes; the one with the best calibration-split accuracy is reported
    "Blink": [dict(patch=34, group=2, demean=True), dict(patch=17, group=1, d_model=32, demean=True)],
    "EyesOpenShut": [dict(patch=16, group=2), dict(patch=16, group=2, demean=True)],
    "SelfRegulationSCP1": [dict(patch=64, group=1), dict(patch=32, group=1, d_model=32)],
}


def run_uea(epochs: int = 40) -> list[dict]:
    import torch

    from perception.eeg.classify import calibration_split, evaluate, fit_temperature, trial_features
    from perception.eeg.transformer import EEGTransformerConfig, TrainSettings, attention_backend, train
    from perception.eeg.uea import load_uea

    torch.set_num_threads(1)
    rows = []
    for name in ("Blink", "EyesOpenShut", "SelfRegulationSCP1"):
        tr, te = load_uea(name, "TRAIN"), load_uea(name, "TEST")
        fit, cal = calibration_split(tr.y, 0.25, seed=0)
        t0 = time.perf_counter()
        F_tr, F_te = trial_features(tr.X, tr.sfreq), trial_features(te.X, te.sfreq)
        model, l2 = fit_logistic_cv(F_tr[fit], tr.y[fit], len(tr.classes))
        T = fit_temperature(model.predict_logits(F_tr[cal]), tr.y[cal])
        L = model.predict_logits(F_te)
        raw, calib = evaluate(L, te.y), evaluate(L, te.y, T)
        rows.append({"set": name, "encoder": f"band power + logistic (l2={l2:g})", "accuracy": calib["accuracy"],
                     "ece_raw": raw["ece"], "ece_cal": calib["ece"], "T": T, "train_s": time.perf_counter() - t0,
                     "n_train": len(fit), "n_cal": len(cal), "n_test": len(te.y)})
        print(json.dumps(rows[-1]), flush=True)
        t0 = time.perf_counter()
        best = None
        for shape in TRANSFORMER_GRID[name]:
            cfg = EEGTransformerConfig(n_channels=tr.X.shape[1], n_samples=tr.X.shape[2], classes=tr.classes,
                                       sfreq=tr.sfreq, **shape)
            net = train(cfg, tr.X[fit], tr.y[fit], TrainSettings(epochs=epochs))
            cal_logits = net.logits(tr.X[cal])
            score = (evaluate(cal_logits, tr.y[cal])["accuracy"], -evaluate(cal_logits, tr.y[cal])["nll"])
            if best is None or score > best[0]:
                best = (score, net, shape, cal_logits)
        _, net, shape, cal_logits = best
        T = fit_temperature(cal_logits, tr.y[cal])
        L = net.logits(te.X)
        raw, calib = evaluate(L, te.y), evaluate(L, te.y, T)
        rows.append({"set": name, "encoder": f"transformer ({sum(p.numel() for p in net.parameters())} params, "
                     f"{attention_backend()}, {shape})", "accuracy": calib["accuracy"], "ece_raw": raw["ece"],
                     "ece_cal": calib["ece"], "T": T, "train_s": time.perf_counter() - t0,
                     "n_train": len(fit), "n_cal": len(cal), "n_test": len(te.y)})
        print(json.dumps(rows[-1]), flush=True)
        # the chosen shape again, once without and once with token merging (40% of the tokens
        # merged away after the first block, accel.tokens), timed in the same way
        times = {}
        for r_frac in (0.0, 0.4):
            cfg = EEGTransformerConfig(n_channels=tr.X.shape[1], n_samples=tr.X.shape[2], classes=tr.classes,
                                       sfreq=tr.sfreq, **shape)
            cfg.merge_r = int(r_frac * cfg.n_groups * cfg.n_patches)
            t0 = time.perf_counter()
            net = train(cfg, tr.X[fit], tr.y[fit], TrainSettings(epochs=epochs))
            times[r_frac] = time.perf_counter() - t0
            if r_frac:
                T = fit_temperature(net.logits(tr.X[cal]), tr.y[cal])
                L = net.logits(te.X)
                raw, calib = evaluate(L, te.y), evaluate(L, te.y, T)
                rows.append({"set": name, "encoder": f"transformer + token merging (r={cfg.merge_r} of "
                             f"{cfg.n_groups * cfg.n_patches})", "accuracy": calib["accuracy"], "ece_raw": raw["ece"],
                             "ece_cal": calib["ece"], "T": T, "train_s": times[r_frac],
                             "train_speedup_vs_no_merge": times[0.0] / times[r_frac],
                             "n_train": len(fit), "n_cal": len(cal), "n_test": len(te.y)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


TRANSFORMER_SHAPE = {  # the shapes run_uea chose (docs/benchmarks.md, 2026-11-28), fixed so only the temperature differs
    "Blink": dict(patch=17, group=1, d_model=32, demean=True),
    "EyesOpenShut": dict(patch=16, group=2),
    "SelfRegulationSCP1": dict(patch=64, group=1),
}


def _top_label(logits: np.ndarray, y: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import softmax

    p = softmax(logits / T, axis=1)
    return p.max(1), (p.argmax(1) == y).astype(float)


def _ece_interval(conf: dict[str, np.ndarray], correct: dict[str, np.ndarray], n_boot: int, seed: int = 0) -> dict:
    """ECE (15 equal-mass bins) of each variant, and paired bootstrap 95% intervals of each and
    of each variant's difference from "split" (the same resampled test trials for all)."""
    from agentkit.calibration.metrics import ece as binned_ece

    rng = np.random.default_rng(seed)
    n = len(next(iter(conf.values())))
    boots = {k: [] for k in conf}
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        for k in conf:
            boots[k].append(binned_ece(conf[k][i], correct[k][i], 15, "mass"))
    out = {}
    for k in conf:
        b = np.array(boots[k])
        out[k] = {"ece": binned_ece(conf[k], correct[k], 15, "mass"), "ece_width": binned_ece(conf[k], correct[k], 15, "width"),
                  "ci95": [float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))]}
        if k != "split" and "split" in boots:
            d = b - np.array(boots["split"])
            out[k]["minus_split_ci95"] = [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))]
    return out


def run_temperature(epochs: int = 40, folds: int = 5, n_boot: int = 2000, encoders=("logistic", "transformer")) -> list[dict]:
    """Temperature from a held-out quarter of the training split ("split", what `run_uea` and
    `agentkit eeg train` do: the model trains on the other 75%) against temperature from k-fold
    out-of-fold logits over the whole training split ("cv": the model then trains on all of it).
    ECE is the top-label confidence's, 15 equal-mass bins, on the official test split."""
    import torch

    from perception.eeg.classify import (calibration_split, evaluate, fit_temperature, out_of_fold_logits,
                                         trial_features)
    from perception.eeg.transformer import EEGTransformerConfig, TrainSettings, train
    from perception.eeg.uea import load_uea

    torch.set_num_threads(1)
    rows = []
    for name in ("Blink", "EyesOpenShut", "SelfRegulationSCP1"):
        tr, te = load_uea(name, "TRAIN"), load_uea(name, "TEST")
        k = len(tr.classes)
        fit, cal = calibration_split(tr.y, 0.25, seed=0)
        for encoder in encoders:
            t0 = time.perf_counter()
            if encoder == "logistic":
                Z_tr, Z_te = trial_features(tr.X, tr.sfreq), trial_features(te.X, te.sfreq)

                def trainer(idx):
                    return fit_logistic_cv(Z_tr[idx], tr.y[idx], k)[0].predict_logits
            else:
                Z_tr, Z_te = tr.X, te.X

                def trainer(idx):
                    cfg = EEGTransformerConfig(n_channels=tr.X.shape[1], n_samples=tr.X.shape[2], classes=tr.classes,
                                               sfreq=tr.sfreq, **TRANSFORMER_SHAPE[name])
                    return train(cfg, tr.X[idx], tr.y[idx], TrainSettings(epochs=epochs)).logits
            # split: the model trains on 75%, T is fitted on the other 25%
            f = trainer(fit)
            T_split = fit_temperature(f(Z_tr[cal]), tr.y[cal])
            L_split = f(Z_te)
            # cv: out-of-fold logits of all training trials fit T; the final model trains on all of them
            oof = out_of_fold_logits(tr.y, lambda a, b: trainer(a)(Z_tr[b]), folds=folds)
            T_cv = fit_temperature(oof, tr.y)
            L_all = trainer(np.arange(len(tr.y)))(Z_te)
            conf, correct = {}, {}
            for key, L, T in (("split_raw", L_split, 1.0), ("split", L_split, T_split),
                              ("cv_raw", L_all, 1.0), ("cv", L_all, T_cv)):
                conf[key], correct[key] = _top_label(L, te.y, T)
            row = {"set": name, "encoder": encoder, "n_train": len(tr.y), "n_test": len(te.y), "folds": folds,
                   "T_split": T_split, "T_cv": T_cv, "n_cal_split": len(cal),
                   "accuracy_split": evaluate(L_split, te.y)["accuracy"], "accuracy_cv": evaluate(L_all, te.y)["accuracy"],
                   "nll_split": evaluate(L_split, te.y, T_split)["nll"], "nll_cv": evaluate(L_all, te.y, T_cv)["nll"],
                   "ece": _ece_interval(conf, correct, n_boot), "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("all", "memory", "detection", "uea", "temperature"), default="all")
    ap.add_argument("--encoders", default="logistic,transformer", help="for --part temperature")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    result = {"cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.part in ("all", "memory"):
        result["memory"] = run_memory()
    if args.part in ("all", "detection"):
        result["detection"] = run_detection()
    if args.part in ("all", "uea"):
        result["uea"] = run_uea(args.epochs)
    if args.part == "temperature":
        result["temperature"] = run_temperature(args.epochs, encoders=tuple(args.encoders.split(",")))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
