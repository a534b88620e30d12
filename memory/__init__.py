"""Episodic memory: stores and recalls timed observations; knows vectors, spans and text only."""
from memory.errors import StoreError
from memory.records import Hit, ObservationLike, Segment
from memory.store import SCHEMA_VERSION, EpisodicStore

__all__ = ["SCHEMA_VERSION", "EpisodicStore", "Hit", "ObservationLike", "Segment", "StoreError"]
