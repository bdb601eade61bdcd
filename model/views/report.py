"""One-page PDF report of a study for the tumour board (fpdf2, no network, no browser).

It draws a :class:`model.analysis.StudyAnalysis` (the same object the Prediction page and
``python -m model.predict --json`` show), in the page's order: a "research use, not a
diagnosis" notice; the de-identified study geometry (:meth:`model.imaging.study.Study.summary`
shape, spacing, orientation only; never file names or header fields); the **tumour** (volume
mL, extent mm, RANO bidimensional product mm², centroid, side; "sizes unknown" / "no
abnormality found" when so) with axial key slices through it and its outline; the **tumour
type** with its held-out accuracy and CI; the **scope** decision; the **clinical prognosis**
(curve with its band, 1/2/5-year survival, median, inputs used / ignored, validated C) from
the clinical inputs entered; last, the **experimental WHO grade II/III** output with its
cross-validated AUC; then every caveat. The text lines are
:mod:`model.views.prediction_figures`' (``tumour_lines`` ...), shared with the page, so the
numbers agree. This module never fits or predicts.

Figures are numpy/Pillow images (:mod:`model.views.render`) and fpdf2 vector drawing (curves),
so the report needs neither kaleido nor a Chrome. The layout is fixed on one A4 page: caveats
that do not fit are left out, last first.

Example::

    >>> from model.analysis import analyse
    >>> a = analyse(study, {"age_years": 50, "tumour_type": "glioma"}, predictor=p, segmenter=s)
    >>> build_report(study, a)[:4]
    b'%PDF'
"""

from __future__ import annotations

import datetime as _dt
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from fpdf import FPDF
from PIL import Image

from model.nets.checkpoint import read_sidecar
from model.views import prediction_figures as pf
from model.views.render import IntensityStats, mm_to_voxel, render, voxel_to_mm

NOTICE = ("Research use only - not a medical device, not a diagnosis. Do not use for clinical "
          "decisions.")
#: Study summary fields printed (everything else, e.g. the file name, is left out).
SUMMARY_FIELDS = ("shape", "spacing_mm", "orientation", "source_orientation")
_PAGE_W, _PAGE_H, _M = 210.0, 297.0, 12.0


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


def key_point(study, analysis) -> tuple[str, tuple[int, int, int]]:
    """(sequence, voxel) of the key slices: the tumour's centroid on its largest axial
    cross-section when one was found, else the centre of the first sequence."""
    t = analysis.tumour
    lm = t.labelmap
    if t.status == "found" and lm is not None:
        seq = t.segmentation.reference_sequence
        if seq not in study.volumes or not lm.same_grid(study.volumes[seq]):
            seq = next((s for s in study.sequences if lm.same_grid(study.volumes[s])), None)
        if seq is not None:
            idx = np.argwhere(np.asarray(lm.array) > 0)
            i, j, _ = (int(round(v)) for v in idx.mean(0))
            k = t.size.axial_slice if t.size is not None and t.size.axial_slice is not None else int(idx[:, 2].mean())
            return seq, (i, j, int(k))
    seq = study.sequences[0]
    shape = study.volumes[seq].shape
    return seq, (shape[0] // 2, shape[1] // 2, shape[2] // 2)


def key_slices(study, analysis, out_px: int = 300) -> list[tuple[str, np.ndarray]]:
    """Axial images of every sequence through :func:`key_point` (located in mm, so the same
    anatomy on different grids), with the tumour outline where the mask lies on that grid.

    Returns a list of (caption, uint8 RGB image)."""
    seq0, ijk0 = key_point(study, analysis)
    mm = voxel_to_mm(study.volumes[seq0].affine, ijk0)
    lm = analysis.tumour.labelmap if analysis.tumour.status == "found" else None
    out = []
    for s in study.sequences:
        v = study.volumes[s]
        ijk = mm_to_voxel(v.affine, mm, v.shape)
        level, width = IntensityStats.of(v.data).preset("Auto (0.5-99.5 %)")
        mask = np.asarray(lm.array) if lm is not None and lm.same_grid(v) else None
        img = render(v.data, v.spacing_mm, "axial", ijk[2], level, width, out_px=out_px,
                     letters=True, mask=mask, mask_opacity=0.35)
        out.append((f"{s} axial z={ijk[2]}" + (" + tumour" if mask is not None else ""), img))
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
    keep the study alive: it holds a weak reference to the study and a callable returning the
    :class:`~model.analysis.StudyAnalysis` to draw (called on the click, so the clinical inputs
    entered by then are the ones printed).

    Raises
    ------
    RuntimeError
        the study was released (another study was loaded).
    """

    def __init__(self, study, analysis, checkpoint_dir: str | Path | None = None):
        self._study = weakref.ref(study)
        self.analysis, self.checkpoint_dir = analysis, checkpoint_dir

    def __call__(self) -> bytes:
        study = self._study()
        if study is None:
            raise RuntimeError("This report's study is no longer loaded; open the Prediction page again.")
        analysis = self.analysis() if callable(self.analysis) else self.analysis
        return build_report(study, analysis, checkpoint_dir=self.checkpoint_dir)


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


def _fit_size(pdf: FPDF, text: str, w: float, size: float, smallest: float = 4.5) -> float:
    """The font size (at most ``size``, at least ``smallest``) at which ``text`` fits in a cell
    of width ``w`` mm with its padding, so a caption ends within its thumbnail (the last one's
    ran past the right margin)."""
    pdf.set_font("Helvetica", "", size)
    room = w - 2 * pdf.c_margin
    width = pdf.get_string_width(_t(text))
    return size if width <= room else max(smallest, size * room / width)


def _lines(pdf: FPDF, x: float, y: float, w: float, lines, size: float = 7.2, style: str = "",
           color=(40, 40, 40), bottom: float = _PAGE_H - _M - 8) -> float:
    """Wrapped lines (never cut mid-line: a shortened caveat could change its meaning); stops
    before ``bottom``. Returns the next y."""
    step = size * 0.43
    for line in lines:
        pdf.set_font("Helvetica", style, size)
        wrapped = pdf.multi_cell(w, step, _t(line), dry_run=True, output="LINES")
        if y + step * len(wrapped) > bottom:
            break
        for part in wrapped:
            _text(pdf, x, y, part, size=size, style=style, color=color, w=w)
            y += step
        y += 0.4
    return y


def _curve(pdf: FPDF, x: float, y: float, w: float, h: float, res) -> None:
    """Axes with the individual survival curve and its 95 % band (years)."""
    t = np.asarray(res.time_days, float) / 365.25
    tmax = max(float(t.max()), 1.0)
    px = lambda v: x + w * (v / tmax)  # noqa: E731
    py = lambda v: y + h * (1 - v)  # noqa: E731
    pdf.set_draw_color(120, 120, 120)
    pdf.set_line_width(0.2)
    pdf.line(x, y, x, y + h)
    pdf.line(x, y + h, x + w, y + h)
    for v in (0, 0.5, 1):
        _text(pdf, x - 6, py(v) - 1.2, f"{v:.1f}", size=6)
    step = 1 if tmax <= 8 else 2
    for yr in range(0, int(tmax) + 1, step):
        _text(pdf, px(yr) - 1, y + h + 0.8, f"{yr}", size=6)
    _text(pdf, x + w / 2 - 4, y + h + 3.5, "years", size=6)

    def steps(s):
        pts, prev = [], 1.0
        for ti, si in zip(t, s):
            pts += [(px(ti), py(prev)), (px(ti), py(si))]
            prev = si
        return pts

    lo, hi = np.asarray(res.lower, float), np.asarray(res.upper, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.sum() > 1:
        upper = steps(hi[ok]) if ok.all() else [(px(a), py(b)) for a, b in zip(t[ok], hi[ok])]
        lower = steps(lo[ok]) if ok.all() else [(px(a), py(b)) for a, b in zip(t[ok], lo[ok])]
        pdf.set_fill_color(215, 228, 240)
        pdf.polygon(upper + lower[::-1], style="F")
    pdf.set_draw_color(0, 114, 178)
    pdf.set_line_width(0.5)
    pdf.polyline(steps(np.asarray(res.survival, float)))
    pdf.set_line_width(0.2)
    _text(pdf, x + w - 34, y + 1, "this patient (95% band)", size=6)


def build_report(study, analysis, checkpoint_dir: str | Path | None = None,
                 created: _dt.datetime | None = None, compress: bool = True) -> bytes:
    """Build the one-page PDF report of a study from its analysis.

    Parameters
    ----------
    study
        :class:`model.imaging.study.Study`; only ``summary()`` geometry fields and the voxel
        data are used (no file name, no header field).
    analysis
        :class:`model.analysis.StudyAnalysis` of ``study`` (drawn as given).
    checkpoint_dir : str | Path, optional
        grade checkpoint folder whose ``attribution_eval.json`` is summarised with the
        experimental grade output.
    created : datetime, optional
        time stamp printed (default now, local time).
    compress : bool
        False writes uncompressed page streams (tests read the text back).

    Returns
    -------
    bytes
        PDF bytes (starting with ``%PDF``), exactly one A4 page.

    Raises
    ------
    RuntimeError
        the layout spilled onto a second page (a bug).
    """
    created = created or _dt.datetime.now()
    pdf = _Report(orientation="P", unit="mm", format="A4")
    pdf.set_compression(compress)
    pdf.set_auto_page_break(False)
    pdf.set_margins(_M, _M, _M)
    pdf.set_title("TumorBoard study report")
    pdf.set_creator("TumorBoard")
    pdf.set_author("TumorBoard")
    pdf.add_page()
    W = _PAGE_W - 2 * _M
    a = analysis

    pdf.set_xy(_M, _M)
    pdf.set_font("Helvetica", "B", 15)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(W * 0.6, 7, "TumorBoard - study report")
    _text(pdf, _M + W * 0.6, _M + 1, f"{created:%Y-%m-%d %H:%M} - study key {study.key}", size=7.5,
          w=W * 0.4, limit=70)
    pdf.set_fill_color(255, 235, 230)
    pdf.set_draw_color(200, 60, 40)
    pdf.rect(_M, _M + 8.5, W, 6.5, style="DF")
    _text(pdf, _M + 2, _M + 10.2, NOTICE, size=8.5, style="B", color=(160, 30, 20))
    y = _M + 18

    # Study geometry (de-identified)
    _heading(pdf, _M, y, "Study (de-identified geometry)")
    y += 5.5
    cols = [("sequence", 20), ("voxels (X x Y x Z)", 38), ("spacing (mm)", 38), ("orientation", 24),
            ("as stored", 20)]
    xx = _M
    for name, cw in cols:
        _text(pdf, xx, y, name, style="B", w=cw)
        xx += cw
    y += 3.6
    for row in deidentified_summary(study)[:4]:
        vals = [row["sequence"], " x ".join(str(v) for v in row["shape"]),
                " x ".join(f"{v:.2f}" for v in row["spacing_mm"]), row["orientation"],
                row["source_orientation"]]
        xx = _M
        for (name, cw), v in zip(cols, vals):
            _text(pdf, xx, y, v, w=cw, limit=24)
            xx += cw
        y += 3.4
    y += 1.5

    # 1. Tumour + key slices
    _heading(pdf, _M, y, "Tumour (predicted FLAIR abnormality)")
    y += 5.5
    slices = key_slices(study, a)
    n = max(1, len(slices))
    iw = min(30.0, (W * 0.55 - 2 * (n - 1)) / n)
    y_img = y
    ih = 0.0
    for k, (cap, img) in enumerate(slices):
        h_mm = iw * img.shape[0] / img.shape[1]
        ih = max(ih, h_mm)
        xk = _M + W * 0.45 + k * (iw + 2)
        pdf.image(Image.fromarray(img), x=xk, y=y_img, w=iw, h=h_mm)
        _text(pdf, xk, y_img + h_mm + 0.6, cap, size=_fit_size(pdf, cap, iw, 5.5), w=iw, limit=34)
    y = _lines(pdf, _M, y, W * 0.44, pf.tumour_lines(a), size=7.5)
    y = max(y, y_img + ih + 4) + 1

    # 2. Tumour type, 3. scope
    _heading(pdf, _M, y, "Tumour type (glioma / meningioma / pituitary)")
    y = _lines(pdf, _M, y + 5.5, W, pf.type_lines(a)) + 1
    _heading(pdf, _M, y, "Scope")
    y = _lines(pdf, _M, y + 5.5, W, pf.scope_lines(a)) + 1

    # 4. Prognosis
    _heading(pdf, _M, y, "Prognosis (clinical-molecular Cox model, from the clinical inputs)")
    y += 5.5
    r = a.prognosis.result
    if r is None:
        y = _lines(pdf, _M, y, W, pf.prognosis_lines(a)) + 1
    else:
        plot_h = 40.0
        _curve(pdf, _M + 8, y + 3, 70, plot_h - 8, r)
        yt = _lines(pdf, _M + 86, y, W - 86, pf.prognosis_lines(a), size=6.8)
        y = max(y + plot_h, yt) + 1

    # 5. Experimental grade
    _heading(pdf, _M, y, "Experimental: WHO grade II/III (not validated)")
    lines = pf.grade_lines(a)
    ev = attribution_eval_summary(checkpoint_dir) if a.grade.prediction is not None else None
    if ev:
        lines.append(ev)
    y = _lines(pdf, _M, y + 5.5, W, lines, size=6.8) + 1

    # Caveats (every caveat the page shows; what does not fit is left out, last first)
    _heading(pdf, _M, y, "Caveats")
    _lines(pdf, _M, y + 5.5, W, [f"- {c}" for c in a.caveats if not c.startswith("Research use only")], size=6.3,
           color=(90, 60, 0))

    pdf.set_fill_color(255, 235, 230)
    pdf.rect(_M, _PAGE_H - _M - 6, W, 6, style="F")
    _text(pdf, _M + 2, _PAGE_H - _M - 4.3, NOTICE + " Generated by TumorBoard.", size=6.5,
          style="B", color=(160, 30, 20), limit=180)
    if pdf.pages_count != 1:
        raise RuntimeError(f"The report layout spilled onto {pdf.pages_count} pages.")
    return bytes(pdf.output())
