"""Viewer page: axial, coronal and sagittal views of any sequence with a linked crosshair,
window/level presets, overlays (attribution map), radiological or neurological convention, and
all sequences side by side at the crosshair.

Tumour: the model's mask (FLAIR abnormality, segmented once per study by
:func:`model.cached.get_tumour`, shared with the Prediction page and the PDF) and every mask
uploaded with the study, each in its own colour (legend with volumes), as a filled overlay
(opacity slider) and an outline on every sequence and view; a mask on another grid is moved
onto the shown sequence's grid by nearest neighbour through the affines. An on/off toggle, a
"Go to tumour" button (crosshair to the largest axial cross-section), "No abnormality found"
in words, the Dice / volume difference of an uploaded mask against the model's, and downloads
of the model's mask as NIfTI (always) and DICOM SEG (when the study came as DICOM).

The crosshair is kept in world millimetres (scanner RAS) in the session, so it stays on the
same anatomical point when the sequence changes, even between sequences on different voxel
grids.

Two viewers. The default one paints in the browser (:mod:`app_pages.widgets.slice_viewer`, fed
once per study by :mod:`model.views.viewer_payload`): slice steps (keys, wheel), window/level
(drag, presets), crosshair, zoom and pan repaint without a server round trip, and it has the
reading tools (distance ruler in mm, RANO bidimensional measurement beside the segmentation's
own, scale bar, all sequences at the crosshair). It lives in a fragment, so what it reports
(crosshair, measurements) reruns only that part. "Simple viewer (server-rendered)" is
the fallback: images rendered on the server (:func:`model.views.render.render_views`, cached
per session through :mod:`model.cached`), sliders, works without JavaScript canvases.
"""

from dataclasses import dataclass, field

import streamlit as st

from model.core.errors import StudyError

from model.cached import (WidgetMemory, attribution_methods, computed_attribution, current_study,
                          forget_widgets, get_segmenter, get_tumour, intensity_stats, per_study,
                          set_widget, widget_value)
from model.imaging.compare import compare_masks, labels_on_grid
from model.imaging.measure import tumour_size
from model.inference.attribution import map_for_sequence, peak_voxel
from model.views.export_mask import labelmap_to_dicom_seg, labelmap_to_nifti_bytes, study_reference
from model.views.masks import EXTRA_RGB, LEGEND_NAMES, MODEL_RGB, UPLOADED_RGB, MaskLayer, focus_voxel
from model.views.render import (COLORMAPS, CONVENTIONS, VIEWS, WINDOW_PRESETS, SliceCache,
                                colormap_lut, mm_to_voxel, render_views, view_axis, voxel_to_mm)
from model.views.tables import study_summary_table
from model.views.viewer_payload import MAX_PAYLOAD_BYTES, build_payload
from app_pages.widgets.slice_viewer import slice_viewer

AXIS_OF = {"sagittal": "x", "coronal": "y", "axial": "z"}
MANUAL = "Manual"
MODEL_MASK = "Model: FLAIR abnormality"
_SLIDER_PREFIXES = ("viewer_axial_", "viewer_coronal_", "viewer_sagittal_")


@dataclass
class ViewerState:
    """What the viewer keeps per study: rendered slices and the crosshair in world mm."""

    cache: SliceCache = field(default_factory=lambda: SliceCache(maxsize=64))
    mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    methods: list[str] | None = None  # attribution maps offered on the last run
    grids: dict = field(default_factory=dict)  # (mask name, sequence) -> (LabelMap, labels on its grid)
    nifti: dict = field(default_factory=dict)  # mask name -> (LabelMap, NIfTI bytes)
    blobs: dict = field(default_factory=dict)  # compressed volumes of the browser viewer
    seq: str | None = None          # the browser viewer's sequence and convention (as reported)
    convention: str | None = None
    nonce: int = 0                  # crosshair commands (Centre, Go to tumour, ...) to the browser
    command: dict | None = None
    reported: dict | None = None    # the browser's last crosshair report, applied once
    # Where a freshly mounted browser viewer starts. Not moved by the browser's reports: those
    # reruns then send the same payload bytes, and Streamlit does not call the frontend again
    # (the browser keeps its own place per study across page switches).
    start: dict | None = None
    measurements: list = field(default_factory=list)
    sizes: dict = field(default_factory=dict)  # mask name -> (LabelMap, TumourSize, focus voxel)

    def labels_on(self, name, labelmap, vol, seq):
        """``labelmap`` on ``seq``'s grid (nearest neighbour), computed once per mask and sequence."""
        hit = self.grids.get((name, seq))
        if hit is None or hit[0] is not labelmap:
            hit = self.grids[(name, seq)] = (labelmap, labels_on_grid(labelmap, vol.shape, vol.affine))
        return hit[1]

    def size_of(self, name, labelmap, size=None):
        """(tumour size, focus voxel) of ``labelmap``, computed once per mask: the browser
        viewer's fragment reruns on every crosshair report and must not redo them."""
        hit = self.sizes.get(name)
        if hit is None or hit[0] is not labelmap:
            hit = self.sizes[name] = (labelmap, size if size is not None else tumour_size(labelmap),
                                      focus_voxel(labelmap.array))
        return hit[1], hit[2]


st.title("Viewer")
study = current_study()
if study is None:
    st.info("Load a study on the Study page first.")
    st.stop()

state, fresh = per_study(study, "viewer", ViewerState)
if fresh:  # new study: crosshair at the centre of the first sequence, slider positions reset
    first = study.volumes[study.sequences[0]]
    state.mm = tuple(voxel_to_mm(first.affine, [(n - 1) / 2 for n in first.shape]).tolist())
    forget_widgets(prefixes=_SLIDER_PREFIXES)
    state.start = {"seq": study.sequences[0], "mm": list(state.mm),
                   "convention": widget_value("viewer_convention", CONVENTIONS[0])}
cache = state.cache
memory = WidgetMemory()
keep = memory.keep


def slider_key(view: str, seq: str) -> str:
    return f"viewer_{view}_{seq}"


def sync_sliders(seq: str) -> None:
    """Set the x/y/z sliders of ``seq`` to the world crosshair (before they are drawn)."""
    vol = study.volumes[seq]
    ijk = mm_to_voxel(vol.affine, state.mm, vol.shape)
    for view in VIEWS:
        set_widget(slider_key(view, seq), int(ijk[view_axis(view)]))


def on_slider(seq: str) -> None:
    vol = study.volumes[seq]
    ijk = [widget_value(slider_key(v, seq)) for v in ("sagittal", "coronal", "axial")]
    state.mm = tuple(voxel_to_mm(vol.affine, ijk).tolist())


def jump_to(seq: str, ijk) -> None:
    """Crosshair to voxel ``ijk`` of ``seq``: the sliders follow, and the browser viewer gets it
    as a command (applied once per nonce)."""
    vol = study.volumes[seq]
    state.mm = tuple(voxel_to_mm(vol.affine, ijk).tolist())
    sync_sliders(seq)
    state.nonce += 1
    state.command = {"mm": list(state.mm), "nonce": state.nonce}


def to_simple(on: bool) -> None:
    """Carry the browser viewer's sequence, convention and crosshair into the simple viewer."""
    if on:
        if state.seq in study.volumes:
            set_widget("viewer_seq", state.seq)
        if state.convention in CONVENTIONS:
            set_widget("viewer_convention", state.convention)
        sync_sliders(widget_value("viewer_seq", study.sequences[0]))
    else:  # back to the browser viewer: where the sliders left the crosshair, as a command
        state.seq = widget_value("viewer_seq", state.seq)
        state.convention = widget_value("viewer_convention", state.convention)
        state.nonce += 1
        state.command = {"mm": list(state.mm), "nonce": state.nonce, "seq": state.seq,
                         "convention": state.convention}


# ------------------------------------------------------------------ controls
simple = st.toggle("Simple viewer (server-rendered)", key=keep("viewer_simple", False),
                   on_change=lambda: to_simple(bool(widget_value("viewer_simple"))),
                   help="Images rendered on the server and moved with sliders (slower: every step "
                        "is a page rerun). The default viewer paints in the browser and has the "
                        "measuring tools.")
if simple:
    c1, c2, c3 = st.columns([1, 1, 2])
    seq = c1.selectbox("Sequence", study.sequences, key=keep("viewer_seq", study.sequences[0], study.sequences),
                       on_change=lambda: sync_sliders(widget_value("viewer_seq")))
    convention = c2.radio("Convention", CONVENTIONS, key=keep("viewer_convention", CONVENTIONS[0], CONVENTIONS),
                          horizontal=True,
                          format_func=str.capitalize,
                          help="Radiological: the patient's right on the image's left (as in most "
                               "reading rooms). Neurological: the patient's right on the right.")
    presets = list(WINDOW_PRESETS) + [MANUAL]
    preset = c3.selectbox("Window", presets, key=keep(f"viewer_preset_{seq}", presets[0], presets),
                          help="Presets are percentiles of the brain's intensities (MRI has no "
                               "absolute intensity unit).")
    st_seq = intensity_stats(study, seq)
    if preset == MANUAL:
        auto_l, auto_w = st_seq.preset(presets[0])
        lo, hi = st_seq.vmin, st_seq.vmax
        step = max((hi - lo) / 500, 1e-6)
        m1, m2 = st.columns(2)
        level = m1.slider("Level (window centre)", float(lo), float(hi), step=float(step),
                          key=keep(f"viewer_level_{seq}", float(auto_l)))
        width = m2.slider("Width", float(step), float(hi - lo) * 2, step=float(step),
                          key=keep(f"viewer_width_{seq}", float(auto_w)))
    else:
        level, width = st_seq.preset(preset)
else:
    viewer_slot = st.container()  # the browser viewer goes on top; its inputs are drawn below
    seq = state.seq if state.seq in study.volumes else widget_value("viewer_seq", study.sequences[0])
    seq = seq if seq in study.volumes else study.sequences[0]
    convention = state.convention if state.convention in CONVENTIONS else \
        widget_value("viewer_convention", CONVENTIONS[0])
vol = study.volumes[seq]

# Overlays: attribution maps computed on the Prediction page.
methods = attribution_methods(study)
with st.expander("Overlays", expanded=bool(methods)):
    o1, o2, o3, o4 = st.columns(4)
    ov_options = ["off"] + methods
    if state.methods != methods:  # a new map was computed: show it
        forget_widgets("viewer_overlay")
        state.methods = methods
    ov_choice = o1.selectbox("Attribution map", ov_options,
                             key=keep("viewer_overlay", methods[-1] if methods else "off", ov_options),
                             help="Maps are computed on the Prediction page.")
    cmap = o2.selectbox("Colormap", COLORMAPS, key=keep("viewer_cmap", COLORMAPS[0], COLORMAPS))
    opacity = o3.slider("Opacity", 0.0, 1.0, step=0.05, key=keep("viewer_opacity", 0.5))
    threshold = o4.slider("Hide below", 0.0, 1.0, step=0.05, key=keep("viewer_threshold", 0.2),
                          help="Attribution values below this fraction of full scale are transparent.")

overlay = None
if ov_choice != "off":
    overlay, source = map_for_sequence(study, computed_attribution(study, ov_choice), seq)
    if overlay is None:
        st.caption(f"No {ov_choice} map for {seq} (the model does not use it).")
    elif source != seq:
        st.caption(f"The model does not use {seq}; showing the {source} map (same voxel grid).")

# ------------------------------------------------------------------ tumour masks
# The model's mask (on FLAIR's grid) and any mask uploaded with the study (on its sequence's
# grid), each drawn on every sequence through the affines (nearest neighbour), one colour each.
with st.spinner("Outlining the tumour..."):
    finding = get_tumour(study)  # segmented once per study, shared with the Prediction page and PDF
seg = finding.segmentation if finding.source == "model" else None
seg_error = None if seg is not None else (
    finding.message if finding.source == "model" else get_segmenter()[1] or finding.message)
all_masks: dict = {}   # display name -> (LabelMap, colour)
if seg is not None:
    all_masks[MODEL_MASK] = (seg.labelmap, MODEL_RGB)
for n, (name, m) in enumerate(study.masks.items()):
    all_masks[f"Uploaded: {name}"] = (m, UPLOADED_RGB if n == 0 else EXTRA_RGB[(n - 1) % len(EXTRA_RGB)])

st.subheader("Tumour")
t1, t2, t3, t4 = st.columns([1, 2, 1, 1])
show_masks = t1.toggle("Show tumour", key=keep("viewer_tumour_on", True),
                       help="Outline and filled overlay of the tumour masks on every view.")
names = list(all_masks)
shown = t2.multiselect("Masks", names, key=keep("viewer_masks:" + "|".join(names), names),
                       help="Which masks to draw (legend below).") if names else []
fill = t3.slider("Fill opacity", 0.0, 1.0, step=0.05, key=keep("viewer_mask_opacity", 0.3))
outline = t4.checkbox("Outline", key=keep("viewer_mask_outline", True))
legend = []
for name, (m, rgb) in all_masks.items():
    vol_ml = m.volume_ml
    size = (f"{vol_ml:.1f} mL" if vol_ml is not None else
            f"{m.n_voxels} voxels (size unknown: placeholder geometry)")
    if m.n_voxels == 0:
        size = "empty"
    legend.append(f":{LEGEND_NAMES[rgb]}[■] **{name}** · {size}")
if legend:
    st.markdown("  \n".join(legend))
if seg is not None and seg.empty:
    st.info(seg.message)
elif seg is not None:
    ref_vol = study.volumes.get(seg.reference_sequence)
    st.caption(seg.message + ("" if ref_vol is None or seg.labelmap.same_grid(vol) else
                              f" Computed on {seg.reference_sequence}'s grid; shown on {seq}'s by "
                              "nearest neighbour through the two affines."))
else:
    st.caption(f"No model mask: {seg_error}")
for w in (seg.warnings if seg is not None else ()):
    if w != "No abnormality found.":
        st.caption(w)
if seg is not None:
    for name, m in study.masks.items():
        c = compare_masks(m, seg.labelmap)   # on the uploaded mask's grid
        vols = ("volumes unknown (placeholder geometry)" if c.difference_ml is None else
                f"volume {c.reference_ml:.1f} mL uploaded vs {c.other_ml:.1f} mL model "
                f"(model − uploaded {c.difference_ml:+.1f} mL)")
        st.markdown(f"**{name} vs the model's mask:** Dice {c.dice:.2f} · {vols}"
                    + (" · model mask resampled onto the uploaded mask's grid" if c.resampled else ""))
if seg is not None:
    hit = state.nifti.get(MODEL_MASK)
    if hit is None or hit[0] is not seg.labelmap:
        hit = state.nifti[MODEL_MASK] = (seg.labelmap, labelmap_to_nifti_bytes(seg.labelmap))
    d1, d2 = st.columns(2)
    d1.download_button("Download mask (NIfTI)", hit[1], file_name="tumour_mask_flair_grid.nii.gz",
                       mime="application/gzip", key="viewer_download_nifti",
                       help="The model's mask: uint8 RAS NIfTI on FLAIR's grid (opens in 3D Slicer, "
                            "ITK-SNAP); labelled voxels x voxel volume = the volume shown.")
    reference = study_reference(study, seg.labelmap)
    if reference is not None and not seg.empty:
        hit = state.nifti.get("dicom_seg")
        if hit is None or hit[0] is not seg.labelmap:
            try:
                hit = state.nifti["dicom_seg"] = (seg.labelmap, labelmap_to_dicom_seg(seg.labelmap, reference), None)
            except StudyError as exc:
                hit = state.nifti["dicom_seg"] = (seg.labelmap, None, str(exc))
        if hit[1] is not None:
            d2.download_button("Download DICOM SEG", hit[1], file_name="tumour_mask_seg.dcm",
                               mime="application/dicom", key="viewer_download_seg",
                               help="A DICOM Segmentation referencing the source series (opens "
                                    "over the images in 3D Slicer, OHIF or a PACS); no patient "
                                    "details.")
        else:
            d2.caption(f"No DICOM SEG: {hit[2]}")
if not all_masks:
    st.caption("No tumour mask: upload one with the study (e.g. a BraTS seg.nii.gz) or see "
               "the reason above.")


def layers_for(s: str, v) -> tuple:
    """The mask layers to draw on sequence ``s`` (volume ``v``)."""
    if not show_masks:
        return ()
    return tuple(MaskLayer(state.labels_on(name, all_masks[name][0], v, s), all_masks[name][1],
                           float(fill), bool(outline), key=(name, s, id(all_masks[name][0])))
                 for name in shown if name in all_masks)


focus_name = next((n for n in shown if all_masks[n][0].n_voxels), None)


def go_to_tumour() -> None:
    m = all_masks[focus_name][0]
    _, focus = state.size_of(focus_name, m, finding.size if focus_name == MODEL_MASK else None)
    state.mm = tuple(voxel_to_mm(m.affine, focus).tolist())
    sync_sliders(widget_value("viewer_seq", seq))
    state.nonce += 1
    state.command = {"mm": list(state.mm), "nonce": state.nonce}


def crosshair_buttons(cols, seq: str, vol) -> None:
    """Centre / Strongest attribution / Go to tumour (the same keys in both viewers)."""
    j2, j3, j4 = cols
    j2.button("Centre", key="viewer_centre", on_click=jump_to,
              args=(seq, [(n - 1) // 2 for n in vol.shape]))
    if overlay is not None:
        peak = peak_voxel(overlay)  # the same point the Prediction page and the PDF show
        j3.button("Strongest attribution", key="viewer_peak", on_click=jump_to, args=(seq, peak))
    j4.button("Go to tumour", key="viewer_go_tumour", on_click=go_to_tumour, disabled=focus_name is None,
              help="Crosshair to the tumour's largest axial cross-section (near its centre).")


def auto_rano() -> dict | None:
    """The RANO numbers of the first shown mask with voxels, for the browser viewer to show
    beside the user's own measurement (:func:`model.imaging.measure.tumour_size`)."""
    if focus_name is None:
        return None
    m = all_masks[focus_name][0]
    size, focus = state.size_of(focus_name, m, finding.size if focus_name == MODEL_MASK else None)
    first = [seg.reference_sequence] if focus_name == MODEL_MASK and seg is not None else []
    on = next((s for s in (*first, seq, *study.sequences)
               if s in study.volumes and m.same_grid(study.volumes[s])), seq)  # a sequence on its grid
    out = {"label": focus_name, "seq": on, "axial_slice": size.axial_slice,
           "mm": voxel_to_mm(m.affine, focus).tolist()}
    if not size.geometry_known or size.longest_diameter_mm is None:
        return {**out, "long_mm": None, "note": "sizes unknown (placeholder geometry)"}
    return {**out, "long_mm": size.longest_diameter_mm, "perp_mm": size.perpendicular_diameter_mm,
            "product_mm2": size.bidimensional_mm2}


def viewer_payload() -> bytes:
    """The browser viewer's container (blobs compressed once per study, kept in ``state``)."""
    stats = {s: intensity_stats(study, s) for s in study.sequences}
    masks = [(name, all_masks[name][1],
              {s: state.labels_on(name, all_masks[name][0], study.volumes[s], s) for s in study.sequences})
             for name in all_masks]
    ov = None
    if ov_choice != "off":
        maps = computed_attribution(study, ov_choice)
        per_seq = {s: m for s in study.sequences if (m := map_for_sequence(study, maps, s)[0]) is not None}
        if per_seq:
            ov = {"name": ov_choice, "maps": per_seq, "lut": colormap_lut(cmap), "opacity": opacity,
                  "threshold": threshold}
    return build_payload(
        study, stats=stats, masks=masks, overlay=ov,
        mask_style={"show": bool(show_masks), "shown": [n for n in shown if n in all_masks],
                    "fill": float(fill), "outline": bool(outline)},
        auto_rano=auto_rano(),
        start=state.start, command=state.command, cache=state.blobs)


@st.fragment
def browser_viewer() -> None:
    """The browser viewer and what it reports; its reruns stay inside this fragment."""
    b1, b2, b3, b4 = st.columns([3, 1, 1, 1])
    cur = state.seq if state.seq in study.volumes else seq
    b1.caption("Click: crosshair · wheel or ↑/↓: slice · ctrl + wheel: zoom · right-drag: "
               "window/level · tools above the images (ruler and RANO measure in mm).")
    crosshair_buttons((b2, b3, b4), cur, study.volumes[cur])
    payload = viewer_payload()
    if len(payload) > MAX_PAYLOAD_BYTES:
        st.info(f"This study is too large for the browser viewer ({len(payload) / 2**20:.0f} MB to "
                f"send; at most {MAX_PAYLOAD_BYTES / 2**20:.0f} MB): switch on \"Simple viewer "
                "(server-rendered)\" above.")
        return
    result = slice_viewer(payload)
    rep = result.get("crosshair")
    if rep and rep != state.reported:   # a new report (not the one already applied)
        state.reported = rep
        state.mm = tuple(float(v) for v in rep["mm"])
        if rep.get("seq") in study.volumes:
            state.seq = rep["seq"]
        if rep.get("convention") in CONVENTIONS:
            state.convention = rep["convention"]
    ms = result.get("measurements")
    if ms is not None:
        state.measurements = list(ms)
    if state.measurements:  # what the server has (copyable text; the viewer draws its own list)
        st.caption("Measurements kept with the study: " + " · ".join(
            measurement_text(m) for m in state.measurements))


def measurement_text(m: dict) -> str:
    """One measurement reported by the browser viewer, in words."""
    v, where = m.get("mm"), f"{m.get('seq')} {m.get('view')} slice {m.get('slice')}"
    if m.get("type") == "rano" and isinstance(v, dict):
        return (f"RANO bidimensional {v['long_mm']:.1f} x {v['perp_mm']:.1f} mm "
                f"= {v['product_mm2']:.0f} mm² ({where})")
    return f"distance {float(v):.1f} mm ({where})"


if not simple:
    with viewer_slot:
        browser_viewer()
else:
    # ------------------------------------------------------------------ crosshair (simple viewer)
    for view in VIEWS:
        if widget_value(slider_key(view, seq)) is None:
            sync_sliders(seq)
            break
    cols = st.columns(3)
    ijk = [0, 0, 0]
    for col, view in zip(cols, VIEWS):
        axis = view_axis(view)
        with col:
            if vol.shape[axis] > 1:
                ijk[axis] = st.slider(f"{view} slice ({AXIS_OF[view]}, voxels)", 0, vol.shape[axis] - 1,
                                      key=slider_key(view, seq), on_change=on_slider, args=(seq,))
            else:  # a one-slice study: Streamlit refuses a slider whose min equals its max
                st.caption(f"{view}: a single slice")
    mm = voxel_to_mm(vol.affine, ijk)
    value = float(vol.data[tuple(ijk)])

    j1, j2, j3, j4 = st.columns([3, 1, 1, 1])
    j1.markdown(f"**Crosshair** voxel (i, j, k) = ({ijk[0]}, {ijk[1]}, {ijk[2]}) · position "
                f"(x, y, z) = ({mm[0]:.1f}, {mm[1]:.1f}, {mm[2]:.1f}) mm (scanner RAS) · "
                f"{seq} value **{value:.4g}**")
    crosshair_buttons((j2, j3, j4), seq, vol)

    imgs = render_views(vol.data, vol.spacing_mm, tuple(ijk), level, width, convention=convention,
                        overlay=overlay, overlay_key=(ov_choice, seq), colormap=cmap, opacity=opacity,
                        threshold=threshold, layers=layers_for(seq, vol), cache=cache, key=(study.key, seq))
    flat = [a for a in range(3) if vol.shape[a] == 1]
    for col, view in zip(cols, VIEWS):
        axis = view_axis(view)
        if flat and axis not in flat:  # one-voxel-thick image: this view would be a 1-pixel strip
            col.caption(f"{view}: not shown (the study is a single {VIEWS[2 - flat[0]]} slice)")
            continue
        col.image(imgs[view], width="stretch",
                  caption=f"{view} {AXIS_OF[view]} = {ijk[axis]} / {vol.shape[axis] - 1} "
                          f"({mm[axis]:+.1f} mm)")

    # -------------------------------------------------------------- sequences side by side
    if len(study.sequences) > 1:
        st.subheader("All sequences at the crosshair")
        cview = st.radio("View", VIEWS, key=keep("viewer_compare_view", VIEWS[0], VIEWS), horizontal=True)
        cols = st.columns(len(study.sequences))
        for col, s in zip(cols, study.sequences):
            v = study.volumes[s]
            vijk = mm_to_voxel(v.affine, state.mm, v.shape)
            p = widget_value(f"viewer_preset_{s}", presets[0])
            lv, wd = intensity_stats(study, s).preset(p if p in WINDOW_PRESETS else presets[0])
            img = render_views(v.data, v.spacing_mm, vijk, lv, wd, views=(cview,), convention=convention,
                               layers=layers_for(s, v), out_px=240, cache=cache, key=(study.key, s))[cview]
            col.image(img, width="stretch",
                      caption=f"{s} · {cview} {AXIS_OF[cview]} = {vijk[view_axis(cview)]}")

st.subheader("Geometry")
st.dataframe(study_summary_table(study), width="stretch")
st.caption(f"{convention.capitalize()} convention; letters on the edges: R/L right/left, "
           "A/P anterior/posterior, S/I superior/inferior. The crosshair is shared by all "
           "sequences through its position in millimetres.")
for w in study.warnings:
    st.warning(w)
memory.save()
