"""EEG trial encoders behind one interface: fit on trials + labels, calibrated `predict_proba`,
safe save/load (JSON + safetensors, never pickle).

| name | what | library |
|---|---|---|
| `minirocket` | MiniRocket features + ridge head | aeon, scikit-learn |
| `multirocket` | MultiRocket features + ridge head | aeon, scikit-learn |
| `tangent` | covariances -> tangent space -> logistic regression | pyriemann, scikit-learn |
| `eegnet` | EEGNet trained on the CPU | braindecode, torch |
| `shallow` | ShallowFBCSPNet trained on the CPU | braindecode, torch |
| `transformer` | our channel-group x time-patch transformer | torch |

Every encoder's probabilities are Platt-calibrated on trials its head did not train on.
`select_encoder` picks one by cross-validation on the training trials. The libraries are
imported only when an encoder is fitted or loaded.
"""
from __future__ import annotations

from perception.eeg.encoders.base import EncoderInfo, TrialEncoder, check_trials, fit_platt
from perception.eeg.encoders.convnet import ConvNetConfig, ConvNetEncoder, ShallowNetEncoder
from perception.eeg.encoders.riemann import TangentSpaceConfig, TangentSpaceEncoder
from perception.eeg.encoders.rocket import MiniRocketEncoder, MultiRocketConfig, MultiRocketEncoder, RocketConfig
from perception.eeg.encoders.transformer import TransformerEncoder, TransformerEncoderConfig

ENCODERS: dict[str, type[TrialEncoder]] = {
    cls.name: cls for cls in (MiniRocketEncoder, MultiRocketEncoder, TangentSpaceEncoder, ConvNetEncoder,
                              ShallowNetEncoder, TransformerEncoder)
}
"""Encoder name -> class."""


def make_encoder(name: str, *, seed: int = 0, **settings) -> TrialEncoder:
    """A fresh, unfitted encoder by name, with its settings as keywords.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    cls = ENCODERS.get(name)
    if cls is None:
        raise ValueError(f"Invalid value for the 'encoder' parameter. Allowed values are {sorted(ENCODERS)}, "
                         f"but got {name!r} instead.")
    return cls(seed=seed, **settings)


def load_encoder(folder) -> TrialEncoder:
    """Load any encoder saved with `TrialEncoder.save` (InputError when the folder is not one)."""
    return TrialEncoder.load(folder)


from perception.eeg.encoders.select import DEFAULT_CANDIDATES, CandidateScore, select_encoder  # noqa: E402

__all__ = [
    "CandidateScore", "ConvNetConfig", "ConvNetEncoder", "DEFAULT_CANDIDATES", "ENCODERS", "EncoderInfo",
    "MiniRocketEncoder", "MultiRocketConfig", "MultiRocketEncoder", "RocketConfig", "ShallowNetEncoder",
    "TangentSpaceConfig", "TangentSpaceEncoder", "TransformerEncoder", "TransformerEncoderConfig", "TrialEncoder",
    "check_trials", "fit_platt", "load_encoder", "make_encoder", "select_encoder",
]
