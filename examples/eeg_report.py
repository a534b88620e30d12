"""EEG report and questions from Python: analyse a recording, print its report, ask it questions.

Run: python examples/eeg_report.py [recording.edf]
Without an argument it uses the EDF file shipped with pyedflib (11 channels, 200 Hz, 10 min).
"""
import sys
from pathlib import Path

import pyedflib

from agentkit.eeg import answer_eeg, build_report, open_session, render_text
from agentkit.eeg.plots import plot_timeline

path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(pyedflib.__file__).parent / "data" / "test_generator.edf"

session = open_session(path)  # chunked analysis in bounded memory; observations kept in-process
print(render_text(build_report(session.analysis)))
print("timeline:", plot_timeline(session.analysis, "eeg_timeline.png"))

for question in ("when was alpha power highest?", "which channels were bad?", "were there blink artifacts?"):
    answer = answer_eeg(question, session.reader, session.source)
    print(f"\nQ: {question}\nA: {answer.text} (confidence {answer.confidence:.2f}, abstained={answer.abstained})")
