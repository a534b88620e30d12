"""EEG for agents: the report, the plots, questions over memory, and the `agentkit eeg` commands."""
from agentkit.eeg.ask import ListReader, answer_eeg, ask_memory
from agentkit.eeg.report import EEGReport, Statement, build_report, render_text
from agentkit.eeg.session import EEGSession, analyze_file, file_source_id, open_session, remember

__all__ = ["EEGReport", "EEGSession", "ListReader", "Statement", "analyze_file", "answer_eeg", "ask_memory", "build_report",
           "file_source_id", "open_session", "remember", "render_text"]
