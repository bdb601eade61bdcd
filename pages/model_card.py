"""Model page: the served checkpoint's model card."""

import pandas as pd
import streamlit as st

from model.cached import get_predictor

card = get_predictor().card
st.title(f"Model: {card.get('name')} v{card.get('version')}")
st.write(card.get("task", ""))
st.info(card.get("intended_use", ""))

rows = []
for split, m in card.get("metrics", {}).items():
    fmt = lambda k: (f"{m[k]:.3f}" + (f" [{m[k + '_ci95'][0]:.2f}, {m[k + '_ci95'][1]:.2f}]"
                                      if k + "_ci95" in m else "")) if m.get(k) is not None else "n/a"
    rows.append({"split": split, "patients": m.get("n_patients"), "accuracy": fmt("accuracy"),
                 "ROC AUC": fmt("roc_auc"), "F1 (macro)": fmt("f1_macro"), "C-index": fmt("c_index")})
st.subheader("Metrics (patient level, 95% bootstrap CI)")
st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)
st.caption(card.get("metrics_note", ""))

st.subheader("Inputs and preprocessing")
st.json(card.get("inputs", {}))
st.write(card.get("preprocessing", {}).get("description", ""))
st.subheader("Training data")
td = card.get("training_data", {})
st.write(td.get("dataset", ""))
st.write(f"Citation: {td.get('citation', '')}")
st.write(f"Licence: {td.get('licence', '')}")
st.write(f"Patients: {td.get('n_patients')} ({td.get('split_method', '')})")
st.subheader("Limitations")
for item in card.get("limitations", []):
    st.write(f"- {item}")
st.caption(f"Weights sha256 {card.get('sha256')} (verified at load).")
