"""Encoders that turn sources (video, images, EEG) into timed observations.

perception never writes memory: it yields plain `Observation` records that agentkit stores.
"""
from perception.types import Observation

__all__ = ["Observation"]
