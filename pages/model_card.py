"""Model page: the served checkpoint's model card and the attribution evaluation."""

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from model.cached import get_predictor
from model.nets.checkpoint import evidence_warning, read_sidecar
from model.views.report import fmt_num

predictor = get_predictor()
card = predictor.card
st.title(f"Model: {card.get('name')} v{card.get('version')}")
st.write(card.get("task", ""))
st.info(card.get("intended_use", ""))

rows = []
for split, m in card.get("metrics", {}).items():
    fmt = lambda k: (fmt_num(m[k], ".3f") + (f" [{fmt_num(m[k + '_ci95'][0])}, {fmt_num(m[k + '_ci95'][1])}]"  # noqa: E731
                                             if m.get(k + "_ci95") else "")) if m.get(k) is not None else "n/a"
    rows.append({"split": split, "patients": m.get("n_patients"), "accuracy": fmt("accuracy"),
                 "ROC AUC": fmt("roc_auc"), "F1 (macro)": fmt("f1_macro"), "C-index": fmt("c_index")})
st.subheader("Metrics (patient level, 95% bootstrap CI)")
st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)
st.caption(card.get("metrics_note", ""))

st.subheader("Design comparison: 5-fold cross-validation")
cv = read_sidecar(predictor.checkpoint_dir, "cv.json", "variants")
if cv is None:
    st.info("No cross-validation for this checkpoint yet: run `python -m training.cv`.")
else:
    def _ms(v: dict, k: str) -> str:
        m, sd = v["mean"].get(k), v["sd"].get(k)
        return "n/a" if fmt_num(m) == "n/a" else f"{fmt_num(m)} ± {fmt_num(sd)}"

    def _ci(v: dict, k: str) -> str:
        p, ci = v["pooled"].get(k), v["pooled"].get(k + "_ci95")
        return (fmt_num(p) + (f" [{fmt_num(ci[0])}, {fmt_num(ci[1])}]" if ci else "")
                if p is not None else "n/a")

    def _diff(v: dict, k: str) -> str:
        d = v.get("minus_reference", {}).get(k)
        return "" if not d else f"{d['difference']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"

    rows = [{"design": v.get("name", name),
             "pooled AUC [95% CI]": _ci(v, "roc_auc"), "AUC minus served": _diff(v, "roc_auc"),
             "AUC (mean ± sd of folds)": _ms(v, "roc_auc"), "accuracy (mean ± sd)": _ms(v, "accuracy"),
             "F1 macro (mean ± sd)": _ms(v, "f1_macro"), "C-index (mean ± sd)": _ms(v, "c_index"),
             "pooled C [95% CI]": _ci(v, "c_index"), "C minus served": _diff(v, "c_index"),
             "ECE (mean ± sd)": _ms(v, "ece"), "folds": len(v.get("folds_done", [])),
             "train s/fold": (f"{sum(v['train_seconds']) / len(v['train_seconds']):.0f}"
                              if v.get("train_seconds") else ""),
             "what": v.get("description", "") + (f" ({v['note']})" if v.get("note") else ""),
             "id": name}
            for name, v in cv["variants"].items()]
    cv_warning = evidence_warning(card)
    if cv_warning:
        st.warning(cv_warning)
    st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)
    _pts, _folds = cv.get("patients", {}).get("n"), len(cv.get("patients", {}).get("folds", []))
    st.caption(f"ROC AUC: 0.5 is chance, 1 is perfect. 'Pooled' scores all {_pts} out-of-fold "
               f"predictions together (with a bootstrap 95% CI); 'mean ± sd' averages the "
               f"{_folds} folds. 'Minus served': paired difference to the served design. C-index: "
               "how well the risk score orders survival times (0.5 chance). ECE: expected "
               "calibration error, the average gap between stated confidence and accuracy "
               "(0 is perfect). The mask-feature baseline needs expert tumour outlines, which "
               "the app does not have.")
    fig = go.Figure()
    for name, v in cv["variants"].items():
        fig.add_trace(go.Box(y=[f["roc_auc"] for f in v.get("per_fold", [])], name=v.get("name", name),
                             boxpoints="all", jitter=0.3, pointpos=0))
    fig.add_hline(y=0.5, line_dash="dash", line_color="gray", annotation_text="chance")
    fig.update_layout(title="ROC AUC of each fold's held-out patients", yaxis_title="ROC AUC",
                      yaxis_range=[0, 1], height=320, showlegend=False,
                      margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")
    st.write(f"**Decision:** {cv.get('decision', '')}")
    st.caption(f"Patients: {cv.get('patients', {}).get('pool', '')}, {cv.get('patients', {}).get('n')} "
               f"patients. {cv.get('method', '')} Computed {cv.get('created')}.")
    if cv.get("shipped_command") != card.get("training", {}).get("command"):
        st.warning("The served checkpoint was trained with another command than the one this "
                   "comparison cross-validated; rerun `python -m training.cv`.")

st.subheader("Inputs and preprocessing")
st.json(card.get("inputs", {}))
st.write(card.get("preprocessing", {}).get("description", ""))
st.subheader("Training data")
td = card.get("training_data", {})
st.write(td.get("dataset", ""))
st.write(f"Citation: {td.get('citation', '')}")
st.write(f"Licence: {td.get('licence', '')}")
_n = td.get("n_patients") or {}
st.write("Patients: " + ", ".join(f"{k} {v}" for k, v in _n.items()) + f" ({td.get('split_method', '')})")
st.subheader("Limitations")
for item in card.get("limitations", []):
    st.write(f"- {item}")
st.subheader("Do the attribution maps mean something?")
ev = read_sidecar(predictor.checkpoint_dir, "attribution_eval.json", "methods")
if ev is None:
    st.info("No attribution evaluation for this checkpoint yet: run `python -m training.attribution_eval`.")
else:
    rnd = ev["random"]
    rows = []
    for m, r in ev["methods"].items():
        rz = ev.get("randomisation", {}).get(m, {})
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        rows.append({"method": m,
                     "deletion AUC (lower better)": f"{r['deletion_auc']:.3f}",
                     "random": f"{rnd['deletion_auc']:.3f}",
                     "insertion AUC (higher better)": f"{r['insertion_auc']:.3f}",
                     "random ": f"{rnd['insertion_auc']:.3f}",
                     "beats random (deletion)": f"{r['beats_random_deletion']}/{ev['n_patients']}",
                     "deletion, map mirrored L-R": (f"{r['deletion_auc_mirrored']:.3f}"
                                                    if "deletion_auc_mirrored" in r else "n/a"),
                     "beats mirrored (del./ins.)": (f"{r['beats_mirrored_deletion']}/{ev['n_patients']}, "
                                                    f"{r['beats_mirrored_insertion']}/{ev['n_patients']}"
                                                    if "beats_mirrored_deletion" in r else "n/a"),
                     "Spearman vs random head": fmt(rz.get("head")),
                     "vs random weights": fmt(rz.get("full")),
                     "s per case": f"{r['seconds_per_case']:.1f}"})
    st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)
    fr = ev["fractions"]
    cols = st.columns(2)
    for col, kind in zip(cols, ("deletion", "insertion")):
        fig = go.Figure()
        for m, r in ev["methods"].items():
            fig.add_trace(go.Scatter(x=fr, y=r[f"{kind}_curve"], mode="lines+markers", name=m))
        fig.add_trace(go.Scatter(x=fr, y=rnd[f"{kind}_curve"], mode="lines", name="random",
                                 line=dict(dash="dash", color="gray")))
        fig.update_layout(title=f"{kind.capitalize()} curve (mean of {ev['n_patients']} held-out patients)",
                          xaxis_title=f"fraction of foreground pixels {'removed' if kind == 'deletion' else 'restored'}",
                          yaxis_title="probability of the predicted class", height=320,
                          margin=dict(l=10, r=10, t=40, b=10))
        col.plotly_chart(fig, width="stretch")
    st.caption(f"{ev.get('method_note', '')} Patients: {', '.join(ev.get('patients', []))} "
               f"(test split); randomisation check on {ev.get('n_randomisation_patients')} of them. "
               f"Settings: {json.dumps(ev.get('settings', {}))}. Computed {ev.get('created')} in "
               f"{ev.get('seconds_total')} s for weights {str(ev.get('checkpoint', {}).get('sha256'))[:12]}...")
    if ev.get("checkpoint", {}).get("sha256") != card.get("sha256"):
        st.warning("This evaluation was computed for other weights than the ones served; rerun it.")
st.caption(f"Weights sha256 {card.get('sha256')} (verified at load).")
