"""Longitudinal page: risk after each imaging visit of a glioblastoma patient (LUMIERE model).

Thin Streamlit layer over :mod:`model.inference.longitudinal` (model and held-out visits through
:mod:`model.cached`, figure and tables from :mod:`model.views`): a held-out test patient's timeline (or an
uploaded visit table's), the model card's comparison with Cox baselines. Works without
``../shared``: the held-out visits are stored in the checkpoint folder. Uploads are read in
memory and never written to disk.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from model.cached import get_held_out_visits, get_longitudinal_model, get_timeline
from model.core.errors import CheckpointError, VisitTableError
from model.inference import longitudinal as lg
from model.views.longitudinal_figures import timeline_figure
from model.views.tables import longitudinal_comparison_table, timeline_table


def _show_timeline(visits: pd.DataFrame, title: str, key: str, outcome: dict | None = None) -> None:
    tl = get_timeline(visits)
    st.plotly_chart(timeline_figure(tl, outcome, title), key=f"fig_{key}", width="stretch")
    st.caption("Hazard ratio after each visit, from that visit and the earlier ones only "
               "(1 = an average training visit; >1 = higher risk). The progression line stops at "
               "the first PD rating. Dashed lines: observed outcome, shown for reference only "
               "and never given to the model.")
    st.dataframe(timeline_table(tl), hide_index=True, width="stretch", key=f"tab_{key}")


st.title("Longitudinal: risk over a patient's visits")
st.caption("Research use only: not a medical device, not a diagnosis. Inputs are tabular "
           "features per visit (time, expert RANO rating, 32 FLAIR radiomics features), not images.")

try:
    model = get_longitudinal_model()
except (CheckpointError, OSError) as exc:
    st.error(f"The longitudinal model is not available: {exc}")
    st.stop()
card = model.card

tab_patient, tab_upload, tab_card = st.tabs(["Held-out patient", "Upload a visit table", "Model card"])

with tab_patient:
    try:
        held = get_held_out_visits()
    except (VisitTableError, OSError) as exc:
        st.error(f"The stored held-out visits cannot be read: {exc}")
        held = None
    if held is not None:
        patients = list(dict.fromkeys(held["Patient"]))
        st.write(f"{len(patients)} test patients of LUMIERE, never used for training or model "
                 "selection.")
        pid = st.selectbox("Patient", patients, key="long_patient")
        rows = held[held["Patient"] == pid]
        _show_timeline(rows, pid, "held", lg.observed_outcome(rows))

with tab_upload:
    st.write("A CSV with one row per visit and the columns of LUMIERE's visits.csv: "
             "`Timepoint` (week-044, week-000-1), `Rating` (PD, SD, PR, CR, Pre-Op, Post-Op or "
             "empty) and the 32 FLAIR radiomics columns; `Patient` optional.")
    if held is not None:
        template = held[held["Patient"] == held["Patient"].iloc[0]][
            ["Patient", *lg.REQUIRED_COLUMNS]].copy()
        template["Patient"] = "example"
        st.download_button("Example visit table (CSV)", template.to_csv(index=False).encode(),
                           file_name="visit_table_example.csv", mime="text/csv", key="long_template")
    upl = st.file_uploader("Visit table (CSV)", type=["csv"], key="long_upload")
    if upl is not None:
        try:
            visits = lg.load_visit_table(upl.getvalue())
        except VisitTableError as exc:
            st.error(f"{upl.name}: {exc}")
        else:
            ups = list(dict.fromkeys(visits["Patient"]))
            up = st.selectbox("Patient in the table", ups, key="long_upload_patient") if len(ups) > 1 else ups[0]
            _show_timeline(visits[visits["Patient"] == up], up, "upload")

with tab_card:
    st.subheader("Held-out comparison (C-index, 95% bootstrap CI)")
    st.dataframe(longitudinal_comparison_table(card), hide_index=True, width="stretch",
                 key="long_comparison")
    st.caption(card.get("metrics_note", ""))
    st.subheader("Inputs")
    st.write(card.get("inputs", {}).get("kind", ""))
    for item in card.get("inputs", {}).get("per_visit", []):
        st.write(f"- {item}")
    st.subheader("Training data and licence")
    td = card.get("training_data", {})
    st.write(f"{td.get('dataset', '')}: {td.get('n_patients')} patients, {td.get('n_visits')} visits; "
             f"{td.get('split_method', '')}.")
    st.write(f"Citation: {td.get('citation', '')}")
    st.warning(f"Licence: {td.get('licence', '')}")
    st.subheader("Limitations")
    for item in card.get("limitations", []):
        st.write(f"- {item}")
    st.caption(f"Weights sha256 {card.get('sha256')} (verified at load).")
