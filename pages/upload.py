"""Study page: load the demo study or upload one NIfTI file per sequence."""

import pandas as pd
import streamlit as st

from model.cached import current_study, get_demo_study, set_study
from model.errors import StudyError
from model.study import MAX_FILE_BYTES, SEQUENCES, Study, recognise_sequence

st.title("Study")
st.write(
    "Upload up to four co-registered 3D MRI sequences of one patient (T1, T1ce, T2, FLAIR), one "
    "NIfTI file (.nii or .nii.gz) each, or use the demo study. Files are read in memory and never "
    "stored."
)

if st.button("Load demo study (BraTS-GLI-00001-000)", key="load_demo"):
    set_study(get_demo_study())
    st.success("Demo study loaded.")

st.session_state.setdefault("uploader_gen", 0)
files = st.file_uploader(
    "NIfTI files", type=["nii", "gz"], accept_multiple_files=True,
    key=f"uploader_{st.session_state['uploader_gen']}",
    help=f"Up to {MAX_FILE_BYTES // 2**20} MB per file.",
)
CHOOSE = "choose..."
if files:
    choices = []
    for i, f in enumerate(files):
        guess = recognise_sequence(f.name)
        options = [CHOOSE, *SEQUENCES]
        seq = st.selectbox(f"Sequence of {f.name}", options,
                           index=options.index(guess) if guess else 0, key=f"seq_{i}_{f.name}")
        choices.append(seq)
    if st.button("Load uploaded study", type="primary", key="load_upload"):
        if CHOOSE in choices:
            st.error("Choose the sequence of every file first.")
        else:
            try:
                study = Study.from_bytes([(f.name, f.getvalue(), s) for f, s in zip(files, choices)])
            except StudyError as exc:
                st.error(f"Not loaded: {exc} The previous study is still loaded.")
            else:
                set_study(study)
                st.session_state["flash"] = f"Study loaded: {', '.join(study.sequences)}."
                # A new uploader key drops the uploaded bytes from the session.
                st.session_state["uploader_gen"] += 1
                st.rerun()

if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))

study = current_study()
if study is not None:
    st.subheader("Loaded study")
    st.dataframe(pd.DataFrame(study.summary()).T, width="stretch")
    for w in study.warnings:
        st.warning(w)
