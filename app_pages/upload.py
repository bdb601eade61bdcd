"""Study page: load the demo study or upload MRI files, confirm each volume's sequence, load.

All reading, splitting (4D channels, DICOM series) and checking is done by
:func:`model.imaging.io.uploads.read_uploads`; this page only shows what was found and the user's choices.
"""

import numpy as np
import streamlit as st

from model.cached import (cached_upload, clear_upload, current_study, flash, get_demo_study,
                          pop_flash, reset_uploader, set_study, uploader_key)
from model.core.errors import StudyError
from model.core.config import MAX_FILE_BYTES
from model.imaging.io.uploads import read_uploads
from model.imaging.sequences import SEQUENCES
from model.imaging.study import Study
from model.views.tables import alignment_table, study_summary_table

#: The uploader accepts any file name: DICOM exports are often extension-less ("4950",
#: "IM0001"), and the loader recognises every format by its bytes (model.imaging.io.sniff).
UPLOAD_TYPES = None
CHOOSE, IGNORE = "choose...", "ignore"

st.title("Study")
st.write(
    "Upload up to four MRI sequences of one patient (T1, T1ce, T2, FLAIR): NIfTI (.nii, "
    ".nii.gz, also 4D files holding several sequences), a DICOM series or whole study as a .zip "
    "(or loose DICOM files, with or without the .dcm extension), FreeSurfer .mgz/.mgh, Analyze "
    ".hdr with its .img, or a single PNG/JPEG slice. Files are read in memory and never stored; patient details in DICOM headers are "
    "never shown or kept."
)

if st.button("Load demo study (BraTS-GLI-00001-000)", key="load_demo"):
    set_study(get_demo_study())
    st.success("Demo study loaded.")

files = st.file_uploader(
    "MRI files", type=UPLOAD_TYPES, accept_multiple_files=True, key=uploader_key(),
    help=f"Up to {MAX_FILE_BYTES // 2**20} MB per file. Zip a DICOM folder to upload it.",
)


def _still_loaded() -> str:
    return " The previous study is still loaded." if current_study() is not None else ""


if files:
    upload_key = tuple((getattr(f, "file_id", ""), f.name, f.size) for f in files)

    def _read():
        try:
            with st.spinner("Reading the files..."):
                return read_uploads([(f.name, f.getvalue()) for f in files]), None
        except StudyError as exc:
            return None, str(exc)

    found, error = cached_upload(upload_key, _read)

    choices: list[str] = []
    if error:
        st.error(f"Not loaded: {error}{_still_loaded()}")
    else:
        for note in found.warnings:
            st.warning(note)
        st.caption("Check the sequence of each volume found (4D files are split into their "
                   "channels, DICOM uploads into their series).")
        options = [CHOOSE, *SEQUENCES, IGNORE]
        for i, vol in enumerate(found.volumes):
            seq = st.selectbox(
                f"Sequence of {vol.source_name}", options,
                index=options.index(vol.sequence) if vol.sequence in options else 0,
                key=f"seq_{i}_{vol.source_name}",
            )
            st.caption(f"{vol.details.get('format', '')} · shape {vol.shape} · spacing "
                       f"{tuple(round(s, 2) for s in vol.spacing_mm)} mm · {vol.orientation} "
                       f"(file {vol.source_orientation})")
            for w in vol.warnings:
                st.warning(w)
            choices.append(seq)
        for m in found.masks:  # label volumes (model.imaging.io.masks): shown on the Viewer
            labels = [int(v) for v in np.flatnonzero(np.bincount(m.data.astype(np.uint8).ravel())) if v]
            st.caption(f"Tumour mask {m.source_name} · shape {m.shape} · labels "
                       f"{', '.join(map(str, labels)) or 'none'} (not a sequence; drawn on the "
                       "Viewer and compared with the model's mask)")
    if st.button("Load uploaded study", type="primary", key="load_upload"):
        if error:
            pass  # the refusal is shown above
        elif CHOOSE in choices:
            st.error("Choose the sequence of every volume first (or 'ignore').")
        else:
            try:
                # sequences not in register are registered here (a few seconds per sequence)
                with st.spinner("Loading the study (and aligning its sequences)..."):
                    study = Study.from_volumes(found.volumes,
                                               [None if c == IGNORE else c for c in choices],
                                               found.warnings, masks=found.masks)
            except StudyError as exc:
                st.error(f"Not loaded: {exc}{_still_loaded()}")
            else:
                set_study(study)
                flash(f"Study loaded: {', '.join(study.sequences)}.")
                # A new uploader key drops the uploaded bytes from the session.
                reset_uploader()
                st.rerun()
else:
    clear_upload()

message = pop_flash()
if message:
    st.success(message)

study = current_study()
if study is not None:
    st.subheader("Loaded study")
    st.dataframe(study_summary_table(study, drop=("warnings",)), width="stretch")
    report = study.alignment
    if report is not None and report.sequences:
        st.subheader("Alignment")
        st.caption(report.caption + " Each sequence is registered rigidly onto "
                   f"{report.reference} (SimpleITK, Mattes mutual information); the measures "
                   "are computed on the reference grid: NMI (normalised mutual information, 1 = "
                   "unrelated, higher = better) and the Dice of the two head outlines.")
        st.dataframe(alignment_table(report), hide_index=True, width="stretch")
    elif report is not None and report.status == "one_grid":
        st.caption(report.caption)
    for seq, vol in study.volumes.items():
        for w in vol.warnings:
            st.warning(f"{seq}: {w}")
    per_volume = {f"{s}: {w}" for s, v in study.volumes.items() for w in v.warnings}
    for w in study.warnings:
        if w not in per_volume:
            st.warning(w)
