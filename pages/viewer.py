"""Viewer page: axial, coronal and sagittal views of any sequence with a linked crosshair,
window/level presets, overlays (attribution map, tumour mask when loaded), radiological or
neurological convention, and all sequences side by side at the crosshair.

The crosshair is kept in world millimetres (scanner RAS) in the session, so it stays on the
same anatomical point when the sequence changes, even between sequences on different voxel
grids. Images are rendered on the server (:func:`model.views.render.render_views`, cached per
session through :mod:`model.cached`) and work in any browser, WebGL or not.
"""

from dataclasses import dataclass, field

import streamlit as st

from model.cached import (WidgetMemory, attribution_methods, computed_attribution, current_study,
                          forget_widgets, intensity_stats, per_study, set_widget, widget_value)
from model.inference.attribution import map_for_sequence, peak_voxel
from model.views.render import (COLORMAPS, CONVENTIONS, VIEWS, WINDOW_PRESETS, SliceCache,
                                mm_to_voxel, render_views, view_axis, voxel_to_mm)
from model.views.tables import study_summary_table

AXIS_OF = {"sagittal": "x", "coronal": "y", "axial": "z"}
MANUAL = "Manual"
_SLIDER_PREFIXES = ("viewer_axial_", "viewer_coronal_", "viewer_sagittal_")


@dataclass
class ViewerState:
    """What the viewer keeps per study: rendered slices and the crosshair in world mm."""

    cache: SliceCache = field(default_factory=lambda: SliceCache(maxsize=64))
    mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    methods: list[str] | None = None  # attribution maps offered on the last run


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
    vol = study.volumes[seq]
    state.mm = tuple(voxel_to_mm(vol.affine, ijk).tolist())
    sync_sliders(seq)


# ------------------------------------------------------------------ controls
c1, c2, c3 = st.columns([1, 1, 2])
seq = c1.selectbox("Sequence", study.sequences, key=keep("viewer_seq", study.sequences[0], study.sequences),
                   on_change=lambda: sync_sliders(widget_value("viewer_seq")))
vol = study.volumes[seq]
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

# Overlays: attribution maps computed on the Prediction page, tumour mask when one is loaded.
methods = attribution_methods(study)
# Tumour masks (label maps) loaded with the study, on the voxel grid of the shown sequence.
masks = {name: m for name, m in study.masks.items() if m.same_grid(vol)}
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
    mask_name, mask_opacity = "off", 0.0
    if masks:
        k1, k2 = st.columns(2)
        mask_options = ["off", *masks]
        mask_name = k1.selectbox("Tumour mask", mask_options,
                                 key=keep("viewer_mask", mask_options[1], mask_options))
        mask_opacity = k2.slider("Mask opacity", 0.0, 1.0, step=0.05, key=keep("viewer_mask_opacity", 0.4))
    else:
        st.caption(f"No tumour mask on {seq}'s voxel grid is loaded with this study.")

overlay = None
if ov_choice != "off":
    overlay, source = map_for_sequence(study, computed_attribution(study, ov_choice), seq)
    if overlay is None:
        st.caption(f"No {ov_choice} map for {seq} (the model does not use it).")
    elif source != seq:
        st.caption(f"The model does not use {seq}; showing the {source} map (same voxel grid).")
mask_vol = masks[mask_name].array if mask_name in masks else None

# ------------------------------------------------------------------ crosshair
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

j1, j2, j3 = st.columns([3, 1, 1])
j1.markdown(f"**Crosshair** voxel (i, j, k) = ({ijk[0]}, {ijk[1]}, {ijk[2]}) · position "
            f"(x, y, z) = ({mm[0]:.1f}, {mm[1]:.1f}, {mm[2]:.1f}) mm (scanner RAS) · "
            f"{seq} value **{value:.4g}**")
j2.button("Centre", key="viewer_centre", on_click=jump_to,
          args=(seq, [(n - 1) // 2 for n in vol.shape]))
if overlay is not None:
    peak = peak_voxel(overlay)  # the same point the Prediction page and the PDF show
    j3.button("Strongest attribution", key="viewer_peak", on_click=jump_to, args=(seq, peak))

imgs = render_views(vol.data, vol.spacing_mm, tuple(ijk), level, width, convention=convention,
                    overlay=overlay, overlay_key=(ov_choice, seq), colormap=cmap, opacity=opacity,
                    threshold=threshold, mask=mask_vol, mask_key=mask_name, mask_opacity=mask_opacity,
                    cache=cache, key=(study.key, seq))
flat = [a for a in range(3) if vol.shape[a] == 1]
for col, view in zip(cols, VIEWS):
    axis = view_axis(view)
    if flat and axis not in flat:  # one-voxel-thick image: this view would be a 1-pixel strip
        col.caption(f"{view}: not shown (the study is a single {VIEWS[2 - flat[0]]} slice)")
        continue
    col.image(imgs[view], width="stretch",
              caption=f"{view} {AXIS_OF[view]} = {ijk[axis]} / {vol.shape[axis] - 1} "
                      f"({mm[axis]:+.1f} mm)")

# ------------------------------------------------------------------ sequences side by side
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
                           out_px=240, cache=cache, key=(study.key, s))[cview]
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
