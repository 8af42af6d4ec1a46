"""Tests run from the repository root, where scenarios/ and data/ are."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


#: A small real-MNIST run of the quickstart (PC on layer actors and the BP baseline).
SMALL = {"train.epochs": 1, "data.train_limit": 2000, "data.test_limit": 500}
