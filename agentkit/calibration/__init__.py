"""Calibrated confidence: metrics, per-family calibrators stored as JSON, conformal sets."""
from agentkit.calibration.calibrator import (
    DEFAULT_PATH,
    CalibrationRow,
    Calibrator,
    FamilyModel,
    answer_family,
    fit_calibrator,
    load_calibrator,
)
from agentkit.calibration.metrics import brier, ece, nll, reliability, risk_coverage, selective_accuracy_at

__all__ = ["DEFAULT_PATH", "CalibrationRow", "Calibrator", "FamilyModel", "answer_family", "brier", "ece", "fit_calibrator",
           "load_calibrator", "nll", "reliability", "risk_coverage", "selective_accuracy_at"]
