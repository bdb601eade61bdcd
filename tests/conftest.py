"""Shared fixtures: real data from ../shared/data and the committed demo study/checkpoint."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TUMORBOARD_DATA", ROOT.parent / "shared" / "data"))
DEMO_DIR = ROOT / "data" / "demo_study"
TCGA_RAW = SHARED / "demo_cases" / "tcga_fg_6692_raw"


def needs_shared(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


@pytest.fixture(scope="session")
def demo_study():
    from model.study import Study

    return Study.demo()


@pytest.fixture(scope="session")
def predictor():
    from model.predictor import Predictor

    return Predictor()
