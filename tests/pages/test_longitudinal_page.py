"""The Longitudinal page driven headless (AppTest): held-out patients, refused and good uploads."""

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import CHECKPOINTS_DIR
from model.inference import longitudinal as lg

CKPT = CHECKPOINTS_DIR / "longitudinal_lumiere"


@pytest.fixture(scope="module")
def held_out():
    return lg.load_held_out_visits(CKPT)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def test_page_runs_selects_patients_and_handles_uploads(held_out, repo_root):
    at = AppTest.from_file(str(repo_root / "app_pages" / "longitudinal.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    from tests.views.figure_theme import theme_problems

    chart = at.get("plotly_chart")[0]  # Streamlit's theme, dark or light; nothing white of its own
    assert chart.proto.theme == "streamlit" and theme_problems(chart.proto.spec) == []
    patients = at.selectbox(key="long_patient").options
    assert len(patients) == held_out["Patient"].nunique()
    at.selectbox(key="long_patient").set_value(patients[-1])
    at.run()
    assert not at.exception and not at.error

    upload = at.get("file_uploader")[0]
    upload.set_value([("bad.csv", b"Patient,week\nX,3\n", "text/csv")])
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "lacks" in at.error[0].value
    assert len(at.get("plotly_chart")) == 1  # the held-out timeline still shows

    raw = pd.read_csv(CKPT / lg.HELD_OUT_VISITS)
    two = raw[raw["Patient"].isin(raw["Patient"].unique()[:2])]
    at.get("file_uploader")[0].set_value([("two.csv", _csv(two), "text/csv")])
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2
    assert at.selectbox(key="long_upload_patient").options == list(two["Patient"].unique())
