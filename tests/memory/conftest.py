"""Fixtures for the episodic store tests."""
import pytest


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"
