"""model.survival is statistics only: importing any of its rooms loads neither Streamlit, nor
Plotly, nor torch (torchsurv is imported lazily inside the validation metrics)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", [
    "model.survival.cohorts", "model.survival.km", "model.survival.cox", "model.survival.risk",
    "model.survival.prognosis", "model.survival.validation", "model.survival.tables",
    "model.survival.concordance",
])
def test_no_streamlit_plotly_or_torch(module, repo_root):
    code = (f"import sys, {module}; "
            "bad = [m for m in ('streamlit', 'plotly', 'torch', 'torchsurv', 'model.views', "
            "'model.cached') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root)
    assert res.returncode == 0, res.stdout + res.stderr
