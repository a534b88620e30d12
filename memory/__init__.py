"""Episodic memory: stores and recalls timed observations; knows vectors, spans and text only."""
