"""Figures and text of a study's results (Plotly), drawn as they are; nothing is computed but
the layout.

* Of a :class:`model.inference.classify.Prediction` (the experimental grade model): class
  probabilities, sequence weights, slice attention.
* Of a :class:`model.analysis.StudyAnalysis`: the lines the Prediction page and the PDF both
  print (:func:`tumour_lines`, :func:`type_lines`, :func:`scope_lines`,
  :func:`prognosis_lines`, :func:`grade_lines`: same numbers, same words) and the individual
  survival curve with its band (:func:`prognosis_figure`).
"""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["probability_figure", "sequence_weight_figure", "slice_attention_figure", "tumour_lines",
           "type_lines", "scope_lines", "prognosis_lines", "grade_lines", "prognosis_figure"]

_MARGIN = dict(l=10, r=10, t=40, b=10)


def probability_figure(prediction) -> go.Figure:
    """Horizontal bars of the class probabilities.

    Parameters
    ----------
    prediction : Prediction
        Its ``probabilities`` (class -> probability in [0, 1]) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
        x axis 0-1, one bar per class labelled with its probability.
    """
    probs = prediction.probabilities
    fig = go.Figure(go.Bar(x=list(probs.values()), y=list(probs), orientation="h",
                           text=[f"{v:.2f}" for v in probs.values()]))
    fig.update_layout(title="Class probabilities", xaxis_range=[0, 1], height=250, margin=_MARGIN)
    return fig


def sequence_weight_figure(prediction) -> go.Figure:
    """Bars of the attention-fusion weight of each sequence used (weights sum to 1).

    Parameters
    ----------
    prediction : Prediction
        Its ``sequence_weights`` (sequence -> weight in [0, 1]) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    w = prediction.sequence_weights
    fig = go.Figure(go.Bar(x=list(w), y=list(w.values()), text=[f"{v:.2f}" for v in w.values()]))
    fig.update_layout(title="Sequence weights (attention fusion, this case)", yaxis_range=[0, 1],
                      height=250, margin=_MARGIN)
    return fig


def slice_attention_figure(prediction) -> go.Figure:
    """Slice-attention weight against the axial slice index, one line per sequence, with the
    most attended slice annotated and the uniform weight 1/K dotted.

    Parameters
    ----------
    prediction : Prediction
        Its ``slice_weights`` (sequence -> list of ``(z, weight)``, z the axial voxel index of
        the RAS volume) are drawn.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    for s, pairs in prediction.slice_weights.items():
        fig.add_trace(go.Scatter(x=[z for z, _ in pairs], y=[w for _, w in pairs],
                                 mode="lines+markers", name=s))
        z_top, w_top = max(pairs, key=lambda zw: zw[1])
        fig.add_annotation(x=z_top, y=w_top, text=f"{s} max z={z_top}", showarrow=True, arrowhead=2)
    k = max(len(p) for p in prediction.slice_weights.values())
    fig.add_hline(y=1 / k, line_dash="dot", annotation_text="uniform 1/K")
    fig.update_layout(xaxis_title="axial slice index (RAS volume, z)", yaxis_title="attention weight",
                      height=300, margin=dict(l=10, r=10, t=30, b=10))
    return fig


# ============================================================================ study analysis
# Text and figures of a model.analysis.StudyAnalysis, shared by the Prediction page and the PDF
# (model.views.report) so both print the same numbers in the same words.
def _f(v, spec: str = ".1f", unknown: str = "unknown") -> str:
    return unknown if v is None else format(v, spec)


def _pct(v) -> str:
    return "beyond follow-up" if v is None else f"{v:.0%}"


def tumour_lines(analysis) -> list[str]:
    """The tumour in lines: volume, extent, bidimensional product, centroid, side (or why not)."""
    t = analysis.tumour
    s = t.size
    if t.status != "found" or s is None:
        return [t.message]
    if not s.geometry_known:
        return [f"{s.n_voxels} voxels labelled; sizes unknown (placeholder or unknown voxel size / "
                "orientation)."]
    ext = " x ".join(f"{e:.0f}" for e in s.extent_mm)
    cen = ", ".join(f"{c:.0f}" for c in s.centroid_mm)
    used = ", ".join(t.segmentation.sequences_used) or t.source
    return [f"Volume {s.volume_ml:.1f} mL",
            f"Extent {ext} mm (R-L x A-P x S-I)",
            f"RANO bidimensional {s.longest_diameter_mm:.0f} x {s.perpendicular_diameter_mm:.0f} mm "
            f"= {s.bidimensional_mm2:.0f} mm2 (axial slice z={s.axial_slice})",
            f"Centroid ({cen}) mm RAS; side: {s.side}",
            f"Segmented from {used} ({t.source})."]


def type_lines(analysis) -> list[str]:
    """The tumour type with its held-out evidence, or the scope reason."""
    tt = analysis.tumour_type
    r = tt.result
    if r is None:
        return [tt.reason]
    ev = r.evidence
    probs = ", ".join(f"{c} {p:.2f}" for c, p in r.probabilities.items())
    out = [f"{r.predicted} (p = {r.probabilities[r.predicted]:.2f}; {probs}; {r.n_slices} slices)"]
    if ev.get("test_accuracy") is not None:
        lo, hi = ev.get("test_accuracy_ci95") or (None, None)
        out.append(f"Held-out accuracy {ev['test_accuracy']:.2f} (95% CI {_f(lo, '.2f')}-"
                   f"{_f(hi, '.2f')}, {ev.get('test_n_patients')} patients never seen)")
    if ev.get("cv_accuracy") is not None:
        lo, hi = ev.get("cv_accuracy_ci95") or (None, None)
        out.append(f"Cross-validated accuracy {ev['cv_accuracy']:.2f} (95% CI {_f(lo, '.2f')}-"
                   f"{_f(hi, '.2f')}, {ev.get('cv_n_patients')} patients)")
    return out


def scope_lines(analysis) -> list[str]:
    """The scope decision: each check's outcome with its numbers, then the decision."""
    sc = analysis.scope
    if sc is None:
        return ["Scope not checked."]
    ck = sc.checks
    out = []
    fov = ck.get("field_of_view")
    if fov:
        ext = fov.get("extent_mm")
        size = (" x ".join(f"{e:.0f}" for e in ext) + " mm" if ext else
                " x ".join(str(v) for v in fov.get("shape", [])) + " voxels (size unknown)")
        out.append(f"Field of view {size}: {_check(fov.get('passed'))}")
    tum = ck.get("tumour")
    if tum and "skipped" not in tum:
        amount = (f"{tum['volume_ml']:.1f} mL" if tum.get("volume_ml") is not None else
                  f"{tum.get('n_voxels')} voxels" if tum.get("n_voxels") is not None else "no mask")
        out.append(f"Tumour found ({amount}): {_check(tum.get('passed'))}")
    ood = ck.get("ood")
    if ood and "skipped" not in ood:
        out.append(f"Out-of-distribution score {_f(ood.get('score'), '.0f', 'not computed')} "
                   f"(threshold {_f(ood.get('threshold'), '.0f')}): {_check(ood.get('passed'))}")
    out.append("Within what the type model knows." if sc.in_scope else
               (analysis.tumour_type.reason or "Outside what this model knows."))
    return out


def _check(passed) -> str:
    return "passed" if passed is True else "failed" if passed is False else "not run"


def prognosis_lines(analysis, unit: str = "years") -> list[str]:
    """The clinical prognosis: 1/2/5-year survival, median, inputs used / ignored, validated C."""
    from model.core.units import DAYS_PER_UNIT

    p = analysis.prognosis
    r = p.result
    if r is None:
        return [p.reason]
    div = DAYS_PER_UNIT[unit]
    out = ["; ".join(f"{a.years:g}-year survival {_pct(a.survival)}"
                     + (f" ({_pct(a.lower)}-{_pct(a.upper)})" if a.survival is not None else "")
                     for a in r.survival_at)]
    if r.median_days is None:
        out.append("Median survival not reached within the follow-up")
    else:
        lo, hi = r.median_ci_days
        out.append(f"Median survival {r.median_days / div:.1f} {unit} (95% CI "
                   f"{_f(None if lo is None else lo / div)}-{_f(None if hi is None else hi / div)})")
    # The Survival page's sentence, in clinicians' names ("Age and WHO grade were used; ...").
    from model.survival.clinical_tables import inputs_sentence

    out.append(inputs_sentence(r))
    c = r.c_index or {}
    if c.get("value") is not None:
        lo, hi = c.get("ci95") or (None, None)
        out.append(f"Validated C-index {c['value']:.2f} (95% CI {_f(lo, '.2f')}-{_f(hi, '.2f')}; "
                   f"{c.get('how', '')})")
    out.append(f"Fitted on {r.training_cohort} ({r.n_patients} patients, {r.n_events} deaths).")
    return out


def grade_lines(analysis) -> list[str]:
    """The experimental WHO grade II/III output with its cross-validated AUC (or why not shown)."""
    g = analysis.grade
    auc = g.cv_auc
    auc_txt = (f"cross-validated ROC AUC {auc[0]:.2f} (95% CI {auc[1]:.2f}-{auc[2]:.2f})"
               if auc else "no cross-validated AUC")
    if g.prediction is None:
        return [g.reason, f"Grade model: {auc_txt}."]
    p = g.prediction
    out = [f"{p.predicted_class} (p = {p.probabilities[p.predicted_class]:.2f}); {auc_txt}"]
    if g.warning:
        out.append(g.warning)
    u = analysis.uncertainty or {}
    mc = u.get("mc_dropout") or {}
    if mc:
        out.append(f"MC dropout ({mc['samples']} samples): p s.d. "
                   f"{mc['probability_sd'][p.predicted_class]:.3f}, {mc['agreement']:.0%} of "
                   f"samples agree; margin {u['margin']:.2f}")
    rk = g.risk or {}
    hc = rk.get("heldout_harrell_c") or {}
    if rk.get("value") is not None:
        out.append(f"Experimental image risk score {rk['value']:+.2f} (not a risk group): held-out "
                   f"C-index {_f(hc.get('estimate'), '.2f')} (95% CI {_f(hc.get('ci_lower'), '.2f')}-"
                   f"{_f(hc.get('ci_upper'), '.2f')}, {rk.get('n_heldout')} patients) vs age alone "
                   f"{_f((rk.get('age_only_harrell_c') or {}).get('estimate'), '.2f')}")
    return out


def prognosis_figure(result, unit: str = "years") -> go.Figure:
    """Step curve S(t) of a ClinicalPrognosisResult with its 95 % band, time in ``unit``."""
    from model.core.units import DAYS_PER_UNIT

    t = [v / DAYS_PER_UNIT[unit] for v in result.time_days]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=list(result.upper), mode="lines", line_shape="hv",
                             line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=t, y=list(result.lower), mode="lines", line_shape="hv",
                             line=dict(width=0), fill="tonexty", fillcolor="rgba(0,114,178,0.2)",
                             name="95% band"))
    fig.add_trace(go.Scatter(x=t, y=list(result.survival), mode="lines", line_shape="hv",
                             line=dict(color="rgb(0,114,178)", width=2), name="this patient"))
    fig.update_layout(xaxis_title=f"time since diagnosis ({unit})", yaxis_title="survival probability",
                      yaxis_range=[0, 1.02], height=320, margin=dict(l=10, r=10, t=30, b=10),
                      title="Individual survival (clinical-molecular Cox model)")
    return fig
