"""TumorBoard: multi-sequence brain tumour MRI dashboard (Streamlit entry point).

    streamlit run app.py

Pages live in ``pages/``; they are thin and call ``model/``. The demo study is loaded on the
first visit so the app works offline with no upload.
"""

import logging
import uuid

import streamlit as st

st.set_page_config(page_title="TumorBoard", page_icon=":brain:", layout="wide")
log = logging.getLogger("tumorboard")

PAGES = [
    st.Page("pages/upload.py", title="Study", icon=":material/upload_file:", default=True),
    st.Page("pages/viewer.py", title="Viewer", icon=":material/view_in_ar:", url_path="viewer"),
    st.Page("pages/prediction.py", title="Prediction", icon=":material/psychology:", url_path="prediction"),
    st.Page("pages/survival.py", title="Survival", icon=":material/monitoring:", url_path="survival"),
    st.Page("pages/longitudinal.py", title="Longitudinal", icon=":material/timeline:", url_path="longitudinal"),
    st.Page("pages/model_card.py", title="Model", icon=":material/description:", url_path="model"),
]
nav = st.navigation(PAGES)

from model.cached import current_study, get_demo_study, set_study  # noqa: E402

if current_study() is None:
    set_study(get_demo_study())

with st.sidebar:
    study = current_study()
    st.caption("Loaded study")
    st.write(", ".join(study.sequences) if study else "none")
    st.caption("Research use only: not a medical device, not a diagnosis.")

try:
    nav.run()
except Exception:  # keep the app and the loaded study usable; log without patient data
    ref = uuid.uuid4().hex[:8]
    log.exception("page error, reference %s", ref)
    st.error(f"Something went wrong on this page (reference {ref}). Your study is still loaded; "
             "try another page or reload.")
