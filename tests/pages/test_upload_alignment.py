"""The Study page's Alignment section (app_pages/upload.py; model/imaging/register.py)."""

import pytest
from streamlit.testing.v1 import AppTest

from model.core.config import REPO_ROOT

APP = str(REPO_ROOT / "app.py")


def _study_page(study=None):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if study is not None:
        at.session_state["study"] = study
    at.switch_page("app_pages/upload.py")
    at.run()
    assert not at.exception
    return at


def test_one_grid_study_says_no_registration_was_needed():
    at = _study_page()  # the demo: BraTS, one grid
    assert "Alignment" not in [h.value for h in at.subheader]
    assert any("no registration needed" in c.value for c in at.caption)
    assert "alignment" not in at.dataframe[0].value.columns


@pytest.mark.slow
@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_raw_study_page_shows_the_alignment_before_and_after(tcga_raw):
    from model.imaging.study import Study

    study = Study.from_paths(sorted(tcga_raw.glob("*.nii.gz")))
    at = _study_page(study)
    assert "Alignment" in [h.value for h in at.subheader]
    summary, table = at.dataframe[0].value, at.dataframe[1].value
    assert summary.loc["FLAIR", "alignment"] == "reference"
    assert list(table["sequence"]) == ["T1", "T1ce", "T2"]
    assert (table["result"] == "registered (rigid)").all() and (table["onto"] == "FLAIR").all()
    for seq, row in table.set_index("sequence").iterrows():
        a = study.alignment.get(seq)
        assert row["NMI before"] == f"{a.nmi_before:.3f}" and row["NMI after"] == f"{a.nmi_after:.3f}"
        assert float(row["NMI after"]) > float(row["NMI before"])
    assert any("were registered rigidly onto FLAIR" in w.value for w in at.warning)
