"""Shared fixtures and markers: real data from ../shared/data and the committed demo study/checkpoint.

Paths are fixtures (``repo_root``, ``shared_data``, ``demo_dir``, ``tcga_raw``); a test that
needs a folder of the shared data says so with ``@pytest.mark.needs_shared("tcga_lgg_flair_seg")``
(one or more paths relative to ``shared_data``) and is skipped, with the reason, where it is
missing. Tests never ``from conftest import``.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests import the project as installed from the checkout
    sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TUMORBOARD_DATA", ROOT.parent / "shared" / "data"))
DEMO_DIR = ROOT / "data" / "demo_study"
TCGA_RAW = SHARED / "demo_cases" / "tcga_fg_6692_raw"


def needs_shared(path: Path):
    """Deprecated: use ``@pytest.mark.needs_shared("relative/path")``."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not available")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_shared(*paths): skip unless these paths exist under the shared data folder")


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name="needs_shared"):
        for rel in mark.args:
            if not (SHARED / rel).exists():
                pytest.skip(f"{SHARED / rel} not available")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO_DIR


@pytest.fixture(scope="session")
def tcga_raw() -> Path:
    return TCGA_RAW


@pytest.fixture(scope="session")
def demo_study():
    from model.imaging.study import Study

    return Study.demo()


@pytest.fixture(scope="session")
def predictor():
    from model.inference.classify import Predictor

    return Predictor()
