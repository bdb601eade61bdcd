"""model.core: one exception family, typed warnings, configuration, units, strict JSON."""

import ast
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from model.core import config, errors, jsonio, units
from model.core import warnings as tbw


def test_core_imports_nothing_of_ours(repo_root):
    for path in sorted((repo_root / "model" / "core").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert not (n == "model" or n.startswith("model.")) or n.startswith("model.core"), \
                    f"{path.name} imports {n}"


@pytest.mark.parametrize("name", [n for n in dir(errors) if n.endswith("Error")])
def test_every_error_is_a_tumorboard_error(name):
    assert issubclass(getattr(errors, name), errors.TumorBoardError)


def test_error_families():
    assert issubclass(errors.MixedPatientsError, errors.StudyError)
    assert not issubclass(errors.CheckpointError, errors.StudyError)


@pytest.mark.parametrize("cls", [tbw.LoadingWarning, tbw.GeometryWarning,
                                 tbw.ConvergenceFallbackWarning, tbw.DataQualityWarning])
def test_warning_family(cls):
    assert issubclass(cls, tbw.TumorBoardWarning) and issubclass(cls, UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("x", cls)
    assert caught[0].category is cls


def test_units():
    assert units.DAYS_PER_YEAR == 365.25
    assert units.DAYS_PER_MONTH == 30.4375
    assert math.isclose(units.WEEKS_PER_YEAR * units.DAYS_PER_WEEK, 365.25)
    assert units.DAYS_PER_UNIT["months"] == units.DAYS_PER_MONTH


def test_config_paths(repo_root):
    assert config.REPO_ROOT == repo_root
    assert (config.REPO_ROOT / "app.py").exists()
    assert config.DEMO_STUDY_DIR.is_dir()
    assert config.CHECKPOINTS_DIR.is_dir()


def test_upload_cap_matches_streamlit_config(repo_root):
    import tomllib

    mb = tomllib.loads((repo_root / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert config.MAX_FILE_BYTES == mb * 1024 * 1024


@pytest.mark.parametrize("value,expected", [("", 0), ("3", 3), ("x", 0), ("-2", 0), (" 2 ", 2)])
def test_torch_threads_env(monkeypatch, value, expected):
    monkeypatch.setenv("TUMORBOARD_TORCH_THREADS", value)
    assert config.torch_threads() == expected


@pytest.mark.parametrize("value,expected", [(None, 1), ("4", 4), ("bad", 1), ("0", 1)])
def test_world_size_env(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", value)
    assert config.world_size() == expected


def test_environment_read_only_in_config(repo_root):
    """Every os.environ read under model/ and training/ lives in model/core/config.py."""
    offenders = []
    for sub in ("model", "training"):
        for path in (repo_root / sub).rglob("*.py"):
            if path.name == "config.py" and path.parent.name == "core":
                continue
            text = path.read_text()
            if "os.environ.get(" in text or "os.getenv(" in text:
                offenders.append(str(path.relative_to(repo_root)))
    assert not offenders, offenders


def test_json_safe_and_write_card(tmp_path: Path):
    x = {1: np.float32(1.5), "n": np.int64(3), "b": np.bool_(True), "t": (np.nan, np.inf, 2.0)}
    safe = jsonio.json_safe(x)
    assert safe == {"1": 1.5, "n": 3, "b": True, "t": [None, None, 2.0]}
    json.dumps(safe, allow_nan=False)
    written = jsonio.write_card(tmp_path, {"auc": np.float64(0.7), "ci": [np.nan]})
    assert json.loads((tmp_path / jsonio.CARD).read_text()) == written == {"auc": 0.7, "ci": [None]}


def test_release_freed_memory_returns_heap_to_the_os():
    import sys

    from model.core.memory import release_freed_memory

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    if not sys.platform.startswith("linux"):
        assert release_freed_memory() is False
        return
    # Many mid-sized blocks (below glibc's mmap threshold) freed at once stay in the heap.
    blocks = [bytearray(100_000) for _ in range(2000)]
    for b in blocks:
        b[::4096] = b"\1" * len(b[::4096])
    del blocks
    before = rss_mb()
    release_freed_memory()
    assert rss_mb() <= before


_MMAP_PROBE = r"""
import ctypes, sys
sys.path.insert(0, sys.argv[1])
from model.core.memory import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[2] == "fix":
    assert fix_mmap_threshold()
big = bytearray(20 * 2**20)  # mmapped (above the initial 128 KiB threshold)
del big
mapped = libc.mallinfo2().hblkhd
block = bytearray(6 * 2**20)
print(libc.mallinfo2().hblkhd - mapped >= 6 * 2**20)
"""


def test_fix_mmap_threshold_keeps_big_blocks_out_of_the_heap(repo_root):
    """glibc raises its mmap threshold to the size of a freed mmapped block (here 20 MB), so the
    next 6 MB block lands in the heap, where freed memory stays resident; with the fixed
    threshold it is mmapped (counted in mallinfo2's hblkhd) and goes back to the OS at free."""
    import os
    import subprocess
    import sys

    from model.core.memory import fix_mmap_threshold

    if not sys.platform.startswith("linux"):
        assert fix_mmap_threshold() is False
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def mapped(mode):
        out = subprocess.run([sys.executable, "-c", _MMAP_PROBE, str(repo_root), mode], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert mapped("default") == "False"  # glibc's sliding threshold (the cause)
    assert mapped("fix") == "True"
