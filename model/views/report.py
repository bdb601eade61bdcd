"""One-page PDF report of a study for the tumour board (fpdf2, no network, no browser).

Contents, top to bottom: a "research use, not a diagnosis" notice; the de-identified study
summary (:meth:`model.imaging.study.Study.summary` only, and of it only geometry: shape, spacing,
orientation; never file names or header fields); the prediction with its uncertainty and the
sequence weights; key axial slices with the attribution overlay (or, without a map, at the
slice the model attended to most); the individual survival curve over the image cohort (an
:class:`model.survival.prognosis.ImagePrognosisSummary` computed by the caller: this module only
draws it, it never fits); the model card summary.

Figures are numpy/Pillow images (:mod:`model.views.render`) and fpdf2 vector drawing (bars, curves),
so the report needs neither kaleido nor a Chrome. The layout is fixed on one A4 page: long
texts are shortened, never wrapped onto a second page.

Example::

    >>> from model.inference.classify import Predictor
    >>> from model.imaging.study import Study
    >>> from model.views.report import build_report
    >>> p, s = Predictor(), Study.demo()
    >>> from model.survival.prognosis import image_prognosis_summary
    >>> pred = p.predict(s)
    >>> pdf = build_report(s, pred, p.card,
    ...                    prognosis=image_prognosis_summary(pred.risk_score, p.checkpoint_dir))
    >>> pdf[:4]
    b'%PDF'
"""

from __future__ import annotations

import datetime as _dt
import weakref
from pathlib import Path
from typing import Any, Callable

import numpy as np
from fpdf import FPDF
from PIL import Image

from model.inference.attribution import peak_voxel
from model.inference.classify import uncertainty
from model.nets.checkpoint import evidence_warning, read_sidecar
from model.views.render import IntensityStats, mm_to_voxel, render, voxel_to_mm
from model.views.tables import fmt_num

NOTICE = ("Research use only - not a medical device, not a diagnosis. Do not use for clinical "
          "decisions.")
#: Study summary fields printed (everything else, e.g. the file name, is left out).
SUMMARY_FIELDS = ("shape", "spacing_mm", "orientation", "source_orientation")
_PAGE_W, _PAGE_H, _M = 210.0, 297.0, 12.0
_SEQ_RGB = {"T1": (0, 114, 178), "T1ce": (213, 94, 0), "T2": (0, 158, 115), "FLAIR": (204, 121, 167)}
_GROUP_RGB = {"low": (0, 114, 178), "high": (213, 94, 0)}


def _t(text: Any, limit: int | None = None) -> str:
    """Text safe for the core PDF fonts (latin-1), shortened to ``limit`` characters."""
    s = str(text)
    for a, b in (("\u2013", "-"), ("\u2014", "-"), ("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'),
                 ("\u201d", '"'), ("\u2264", "<="), ("\u2265", ">="), ("\u00d7", "x"), ("\u2026", "...")):
        s = s.replace(a, b)
    s = s.encode("latin-1", "replace").decode("latin-1")
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 3)].rstrip() + "..."
    return s


def deidentified_summary(study) -> list[dict]:
    """Rows (sequence, shape, spacing_mm, orientation, source_orientation) from
    ``study.summary()``, dropping every other field (file names may carry patient names)."""
    rows = []
    for seq, info in study.summary().items():
        rows.append({"sequence": seq, **{k: info.get(k) for k in SUMMARY_FIELDS}})
    return rows


def key_point(study, prediction, maps: dict[str, np.ndarray] | None) -> tuple[str, tuple[int, int, int]]:
    """(sequence, voxel) of the key slices: the strongest attribution when maps are given,
    else the most attended axial slice of the sequence with the largest fusion weight (at the
    in-plane centre)."""
    if maps:
        seq = max(maps, key=lambda s: prediction.sequence_weights.get(s, 0.0))
        return seq, peak_voxel(maps[seq])
    seq = max(prediction.sequence_weights, key=prediction.sequence_weights.get)
    z = max(prediction.slice_weights[seq], key=lambda zw: zw[1])[0]
    shape = study.volumes[seq].shape
    return seq, (shape[0] // 2, shape[1] // 2, int(z))


def key_slices(study, prediction, maps: dict[str, np.ndarray] | None = None,
               out_px: int = 300) -> list[tuple[str, np.ndarray]]:
    """Axial images of every sequence through :func:`key_point` (located in mm, so the same
    anatomy on different grids), with the attribution overlay where a map exists.

    Returns a list of (caption, uint8 RGB image)."""
    seq0, ijk0 = key_point(study, prediction, maps)
    mm = voxel_to_mm(study.volumes[seq0].affine, ijk0)
    out = []
    for s in study.sequences:
        v = study.volumes[s]
        ijk = mm_to_voxel(v.affine, mm, v.shape)
        level, width = IntensityStats.of(v.data).preset("Auto (0.5-99.5 %)")
        ov = (maps or {}).get(s)
        img = render(v.data, v.spacing_mm, "axial", ijk[2], level, width, overlay=ov, opacity=0.5,
                     threshold=0.3, out_px=out_px, letters=True, crosshair=ijk if ov is not None else None)
        out.append((f"{s}, axial z={ijk[2]}" + (" + map" if ov is not None else ""), img))
    return out


def attribution_eval_summary(checkpoint_dir: str | Path | None) -> str | None:
    """One line from ``attribution_eval.json`` (deletion AUC per method vs random), or None."""
    ev = read_sidecar(checkpoint_dir, "attribution_eval.json", "methods") if checkpoint_dir else None
    if ev is None:
        return None
    try:
        short = {"Saliency": "Sal", "LayerGradCam": "GradCAM", "Occlusion": "Occl", "IntegratedGradients": "IG"}
        parts = [f"{short.get(m, m)} {r['deletion_auc']:.2f}/{r['insertion_auc']:.2f}"
                 for m, r in ev["methods"].items()]
        line = (f"Attribution check ({ev['n_patients']} held-out patients), deletion/insertion AUC: "
                f"{', '.join(parts)}; random blocks {ev['random']['deletion_auc']:.2f}/"
                f"{ev['random']['insertion_auc']:.2f}.")
        mirrored = [r.get("deletion_auc_mirrored") for r in ev["methods"].values()]
        if all(v is not None for v in mirrored):
            close = all(abs(r["deletion_auc"] - r["deletion_auc_mirrored"]) < 0.02
                        and abs(r["insertion_auc"] - r["insertion_auc_mirrored"]) < 0.02
                        for r in ev["methods"].values())
            line += (" Maps do no better than their left-right mirror: they do not show where the "
                     "evidence is." if close else " Maps beat their left-right mirror (Model page).")
        return line
    except (KeyError, TypeError):  # an evaluation file from another version of the code
        return None


class DeferredReport:
    """A PDF built on request (``st.download_button(data=DeferredReport(...))``) that does not
    keep the study alive: it holds weak references to the study, its prediction and its maps,
    so replacing the session's study releases them at once.

    Calling it returns :func:`build_report` bytes. ``prognosis`` is called then too (it may fit
    a model, so it is given by the caller: this module never fits); a ``ValueError`` or
    ``OSError`` it raises (an unusable cohort table) is printed in the survival section
    instead of failing the report.

    Raises
    ------
    RuntimeError
        the study or prediction was released (another study was loaded).
    """

    def __init__(self, study, prediction, card: dict, maps: dict[str, np.ndarray] | None = None,
                 method: str | None = None, checkpoint_dir: str | Path | None = None,
                 prognosis: Callable[[], Any] | None = None):
        self._study, self._prediction = weakref.ref(study), weakref.ref(prediction)
        self._maps = {s: weakref.ref(m) for s, m in (maps or {}).items()}
        self.card, self.method, self.checkpoint_dir = card, method, checkpoint_dir
        self.prognosis = prognosis

    def __call__(self) -> bytes:
        study, prediction = self._study(), self._prediction()
        maps = {s: r() for s, r in self._maps.items()}
        if study is None or prediction is None or any(m is None for m in maps.values()):
            raise RuntimeError("This report's study is no longer loaded; open the Prediction page again.")
        prognosis, note = None, None
        if self.prognosis is not None:
            try:
                prognosis = self.prognosis()
            except (ValueError, OSError) as exc:  # keep the report when the cohort is unusable
                note = f"Cohort not available ({type(exc).__name__})."
        return build_report(study, prediction, self.card, maps=maps or None,
                            method=self.method if maps else None, checkpoint_dir=self.checkpoint_dir,
                            prognosis=prognosis, prognosis_note=note)


class _Report(FPDF):
    def header(self):  # noqa: D102 - fpdf hook
        pass

    def footer(self):  # noqa: D102 - fpdf hook
        pass


def _heading(pdf: FPDF, x: float, y: float, text: str) -> None:
    pdf.set_xy(x, y)
    pdf.set_font("Helvetica", "B", 10)
    pdf.set_text_color(20, 20, 20)
    pdf.cell(0, 5, _t(text))


def _text(pdf: FPDF, x: float, y: float, text: str, size: float = 7.5, style: str = "",
          color=(40, 40, 40), w: float = 0, limit: int | None = None) -> None:
    pdf.set_xy(x, y)
    pdf.set_font("Helvetica", style, size)
    pdf.set_text_color(*color)
    pdf.cell(w, size * 0.45, _t(text, limit))


def _bar(pdf: FPDF, x: float, y: float, w: float, h: float, frac: float, rgb, label: str, value: str) -> None:
    _text(pdf, x, y, label, w=24, limit=16)
    pdf.set_draw_color(180, 180, 180)
    pdf.set_fill_color(235, 235, 235)
    pdf.rect(x + 25, y, w, h, style="DF")
    pdf.set_fill_color(*rgb)
    if frac > 0:
        pdf.rect(x + 25, y, max(0.3, w * min(1.0, frac)), h, style="F")
    _text(pdf, x + 26 + w, y, value)


def _survival_plot(pdf: FPDF, x: float, y: float, w: float, h: float, surv) -> None:
    """Axes with cohort KM curves by risk group and the individual curve (+ band)."""
    ind = surv.individual
    tmax = max([float(t.max()) for t, _ in surv.cohort_km.values()] + [365.25])
    if ind is not None:
        tmax = max(tmax, float(ind.curve["time_days"].max()))
    years = tmax / 365.25
    px = lambda t: x + w * (t / tmax)  # noqa: E731
    py = lambda s: y + h * (1 - s)  # noqa: E731
    pdf.set_draw_color(120, 120, 120)
    pdf.set_line_width(0.2)
    pdf.line(x, y, x, y + h)
    pdf.line(x, y + h, x + w, y + h)
    for s in (0, 0.5, 1):
        _text(pdf, x - 6, py(s) - 1.2, f"{s:.1f}", size=6)
    step = 1 if years <= 6 else 2
    for yr in range(0, int(years) + 1, step):
        _text(pdf, px(yr * 365.25) - 1, y + h + 0.8, f"{yr}", size=6)
    _text(pdf, x + w / 2 - 4, y + h + 3.5, "years", size=6)
    _text(pdf, x - 6, y - 3.5, "survival probability", size=6)

    def steps(t, s):
        pts = [(px(0), py(1.0))]
        prev = 1.0
        for ti, si in zip(t, s):
            pts += [(px(ti), py(prev)), (px(ti), py(si))]
            prev = si
        return pts

    if ind is not None:
        c = ind.curve
        t, lo, hi = c["time_days"].to_numpy(float), c["lower"].to_numpy(float), c["upper"].to_numpy(float)
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            pdf.set_fill_color(225, 225, 225)
            poly = [(px(a), py(b)) for a, b in zip(t, hi)] + [(px(a), py(b)) for a, b in zip(t[::-1], lo[::-1])]
            pdf.polygon(poly, style="F")
    pdf.set_line_width(0.5)
    ly = y + 1
    for g, (t, s) in surv.cohort_km.items():
        pdf.set_draw_color(*_GROUP_RGB[g])
        pdf.polyline(steps(t, s))
        pdf.line(x + w - 30, ly + 1, x + w - 25, ly + 1)
        _text(pdf, x + w - 24, ly, f"cohort, {g} risk", size=6)
        ly += 3
    if ind is not None:
        c = ind.curve
        pdf.set_draw_color(0, 0, 0)
        pdf.set_dash_pattern(dash=1.2, gap=0.8)
        pdf.polyline(steps(c["time_days"].to_numpy(float), c["survival"].to_numpy(float)))
        pdf.line(x + w - 30, ly + 1, x + w - 25, ly + 1)
        pdf.set_dash_pattern()
        _text(pdf, x + w - 24, ly, "this study (95% band)", size=6)
    pdf.set_line_width(0.2)


def build_report(study, prediction, card: dict, maps: dict[str, np.ndarray] | None = None,
                 method: str | None = None, checkpoint_dir: str | Path | None = None,
                 prognosis=None, prognosis_note: str | None = None,
                 created: _dt.datetime | None = None) -> bytes:
    """Build the one-page PDF report of a study.

    Parameters
    ----------
    study
        :class:`model.imaging.study.Study`; only ``summary()`` geometry fields and the voxel
        data are used (no file name, no header field).
    prediction
        :class:`model.inference.classify.Prediction` of the study.
    card : dict
        the served model card (dict).
    maps : dict[str, np.ndarray], optional
        optional attribution maps (sequence -> volume in [0, 1]) drawn on the key slices.
    method : str, optional
        name of the attribution method (caption).
    checkpoint_dir : str | Path, optional
        checkpoint folder whose ``attribution_eval.json`` is summarised in the model card
        section.
    prognosis : ImagePrognosisSummary, optional
        :func:`model.survival.prognosis.image_prognosis_summary` of the study's risk score,
        drawn as given; None -> the survival section says there is no cohort data.
    prognosis_note : str, optional
        why ``prognosis`` is missing (printed), e.g. an unusable cohort table.
    created : _dt.datetime, optional
        time stamp printed (default now, local time).

    Returns
    -------
    bytes
        PDF bytes (starting with ``%PDF``), exactly one A4 page, ~0.3-1 MB.

    Raises
    ------
    RuntimeError
        the layout spilled onto a second page (a bug).
    """
    created = created or _dt.datetime.now()
    pdf = _Report(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(_M, _M, _M)
    pdf.set_title("TumorBoard study report")
    pdf.set_creator("TumorBoard")
    pdf.set_author("TumorBoard")
    pdf.add_page()
    W = _PAGE_W - 2 * _M

    # Title and notice
    pdf.set_xy(_M, _M)
    pdf.set_font("Helvetica", "B", 15)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(W * 0.6, 7, "TumorBoard - study report")
    _text(pdf, _M + W * 0.6, _M + 1, f"{created:%Y-%m-%d %H:%M} · model {card.get('name')} "
          f"v{card.get('version')}", size=7.5, w=W * 0.4, limit=70)
    pdf.set_fill_color(255, 235, 230)
    pdf.set_draw_color(200, 60, 40)
    pdf.rect(_M, _M + 8.5, W, 6.5, style="DF")
    _text(pdf, _M + 2, _M + 10.2, NOTICE, size=8.5, style="B", color=(160, 30, 20))
    y = _M + 18

    # Study summary (de-identified)
    _heading(pdf, _M, y, "Study (de-identified geometry)")
    y += 6
    cols = [("sequence", 20), ("voxels (X x Y x Z)", 38), ("spacing (mm)", 38), ("orientation", 24),
            ("as stored", 20)]
    xx = _M
    for name, cw in cols:
        _text(pdf, xx, y, name, style="B", w=cw)
        xx += cw
    y += 4
    for row in deidentified_summary(study)[:4]:
        vals = [row["sequence"], " x ".join(str(v) for v in row["shape"]),
                " x ".join(f"{v:.2f}" for v in row["spacing_mm"]), row["orientation"],
                row["source_orientation"]]
        xx = _M
        for (name, cw), v in zip(cols, vals):
            _text(pdf, xx, y, v, w=cw, limit=24)
            xx += cw
        y += 3.6
    _text(pdf, _M + 142, y - 3.6 * (len(study.sequences) + 1), "study key", style="B")
    _text(pdf, _M + 142, y - 3.6 * len(study.sequences), f"{study.key} (content hash)")
    y += 2

    # Prediction
    _heading(pdf, _M, y, "Prediction")
    y0 = y + 6
    unc = uncertainty(prediction.probabilities)
    p_top = prediction.probabilities[prediction.predicted_class]
    _text(pdf, _M, y0, f"{prediction.predicted_class}  (p = {p_top:.2f})", size=10, style="B", limit=48)
    yy = y0 + 6
    for c, pv in prediction.probabilities.items():
        _bar(pdf, _M, yy, 40, 3, pv, (90, 90, 90), c, f"{pv:.2f}")
        yy += 4.5
    _text(pdf, _M, yy, f"Uncertainty: normalised entropy {unc['entropy']:.2f} (1 = coin toss), "
          f"margin {unc['margin']:.2f}" + ("  - UNCERTAIN" if unc["margin"] < 0.2 else ""), limit=95)
    yy += 4
    mc = getattr(prediction, "uncertainty", None) or {}
    if mc:
        _text(pdf, _M, yy, f"MC dropout ({mc['samples']} samples): p s.d. "
              f"{mc['probability_sd'][prediction.predicted_class]:.3f}, class agreement "
              f"{mc['agreement']:.0%}, risk s.d. {mc['risk_sd']:.2f}", limit=95)
        yy += 4
    test = card.get("metrics", {}).get("test", {})
    if test:
        ci = test.get("roc_auc_ci95") or [None] * 2
        _text(pdf, _M, yy, f"Held-out test ({test.get('n_patients')} patients): accuracy "
              f"{fmt_num(test.get('accuracy'))}, ROC AUC {fmt_num(test.get('roc_auc'))} "
              f"[95% CI {fmt_num(ci[0])}-{fmt_num(ci[1])}]", limit=95)
        yy += 4
    _text(pdf, _M, yy, f"Risk score (Cox log-risk) {prediction.risk_score:+.3f}: {prediction.risk_group} "
          f"risk, percentile {prediction.risk_percentile:.0f} of the training patients", limit=95)
    yy += 4
    xr = _M + 100
    _text(pdf, xr, y0, "Sequence weights (attention fusion)", style="B")
    ys = y0 + 5
    for s, wv in prediction.sequence_weights.items():
        _bar(pdf, xr, ys, 45, 3, wv, _SEQ_RGB.get(s, (100, 100, 100)), s, f"{wv:.2f}")
        ys += 4.5
    for wmsg in prediction.warnings[:2]:
        _text(pdf, xr, ys, wmsg, size=6.5, color=(120, 80, 0), limit=70)
        ys += 3.2
    y = max(yy, ys) + 2

    # Key slices
    _heading(pdf, _M, y, "Key slices" + (f" with the {method} map (hot: strongest attribution)"
                                         if maps else " (most attended slice; no attribution map computed)"))
    y += 6
    slices = key_slices(study, prediction, maps)
    n = max(1, len(slices))
    gap = 3
    iw = min(45.0, (W - gap * (n - 1)) / n)
    ih_max = 0.0
    for k, (cap, img) in enumerate(slices):
        h_mm = iw * img.shape[0] / img.shape[1]
        ih_max = max(ih_max, h_mm)
        x = _M + k * (iw + gap)
        pdf.image(Image.fromarray(img), x=x, y=y, w=iw, h=h_mm)
        _text(pdf, x, y + h_mm + 0.8, cap, size=6.5, w=iw, limit=40)
    y += ih_max + 5
    _text(pdf, _M, y, "Radiological convention (patient's right on the image's left). Maps: Captum "
          "attributions mapped back to each sequence's voxels; where the model looked, not a "
          "tumour outline.", size=6.5, color=(90, 90, 90), limit=190)
    y += 5

    # Survival
    _heading(pdf, _M, y, "Survival over the image cohort")
    y += 6
    surv = prognosis
    if prognosis_note:
        _text(pdf, _M, y, prognosis_note, limit=95)
    plot_h = 58.0
    if surv is None:
        _text(pdf, _M, y + 4, f"No cohort survival data for this checkpoint; risk percentile "
              f"{prediction.risk_percentile:.0f} among the training patients.")
    else:
        _survival_plot(pdf, _M + 8, y + 4, 100, plot_h - 8, surv)
        tx = _M + 118
        ty = y + 2
        _text(pdf, tx, ty, f"Risk percentile {surv.percentile:.0f}: {surv.group} risk group", w=W - 118,
              limit=60)
        ty += 4
        _text(pdf, tx, ty, f"({surv.n} training patients, {surv.events} deaths)", w=W - 118, limit=60)
        ty += 4
        ind = surv.individual
        if ind is not None:
            for r in ind.horizons.itertuples():
                flag = " (beyond follow-up)" if r.beyond_follow_up else ""
                _text(pdf, tx, ty, f"{r.years:.0f}-year survival {r.survival:.0%} "
                      f"[{r.lower:.0%}-{r.upper:.0%}]{flag}", limit=60)
                ty += 3.6
        _text(pdf, tx, ty + 1, surv.note, size=6.5, color=(90, 90, 90), limit=62)
        _text(pdf, tx, ty + 4.5, "Small cohort, wide uncertainty: not a prognosis.",
              size=6.5, color=(90, 90, 90), limit=62)
    y += plot_h + 2

    # Model card
    _heading(pdf, _M, y, f"Model card: {card.get('name')} v{card.get('version')}")
    y += 6
    td = card.get("training_data", {})
    npat = td.get("n_patients")
    npat_txt = ", ".join(f"{k} {v}" for k, v in npat.items()) if isinstance(npat, dict) else str(npat)
    # Most important first: when the page is full, the lines dropped are the least important.
    lines = [(f"Task: {card.get('task', '')}", "")]
    evidence = evidence_warning(card)
    if evidence:
        lines.append((evidence, "B"))
    lines += [(f"Limitation: {lim}", "") for lim in card.get("limitations", [])[:4]]
    lines.append((f"Intended use: {card.get('intended_use', '')}", ""))
    for split in ("test", "val"):
        m = card.get("metrics", {}).get(split)
        if m:
            ci = m.get("roc_auc_ci95") or [None] * 2
            lines.append((f"Metrics ({split}, {m.get('n_patients')} patients): accuracy "
                          f"{fmt_num(m.get('accuracy'))}, ROC AUC {fmt_num(m.get('roc_auc'))} "
                          f"[{fmt_num(ci[0])}-{fmt_num(ci[1])}], C-index {fmt_num(m.get('c_index'))}", ""))
    ev = attribution_eval_summary(checkpoint_dir)
    if ev:
        lines.append((ev, ""))
    lines.append((f"Training data: {td.get('dataset', '')} (patients: {npat_txt})", ""))
    for line, style in lines:
        # Wrapped, never cut: a shortened warning or limitation could change its meaning.
        pdf.set_font("Helvetica", style, 6.8)
        wrapped = pdf.multi_cell(W, 3.1, _t(line), dry_run=True, output="LINES")
        if y + 3.1 * len(wrapped) > _PAGE_H - _M - 8:
            break
        for part in wrapped:
            _text(pdf, _M, y, part, size=6.8, style=style)
            y += 3.1
        y += 0.5

    # Footer notice
    pdf.set_fill_color(255, 235, 230)
    pdf.rect(_M, _PAGE_H - _M - 6, W, 6, style="F")
    _text(pdf, _M + 2, _PAGE_H - _M - 4.3, NOTICE + " Generated by TumorBoard; weights sha256 "
          f"{str(card.get('sha256', ''))[:12]}.", size=6.5, style="B", color=(160, 30, 20), limit=180)
    if pdf.pages_count != 1:
        raise RuntimeError(f"The report layout spilled onto {pdf.pages_count} pages.")
    return bytes(pdf.output())
