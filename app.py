"""TumorBoard: multi-sequence brain tumour MRI dashboard (Streamlit entry point).

    streamlit run app.py

Pages live in ``app_pages/``; they are thin and call ``model/``. The demo study is loaded on the
first visit so the app works offline with no upload.
"""

import logging
import traceback
import uuid
from pathlib import Path

import streamlit as st

st.set_page_config(page_title="TumorBoard", page_icon=":brain:", layout="wide")
log = logging.getLogger("tumorboard")
if not getattr(log, "_tumorboard_handler", False):  # app.py reruns on every interaction
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log._tumorboard_handler = True


def _where(exc: BaseException) -> str:
    """Exception types and code locations of an error, without its message or any value:
    messages and locals can hold patient data (file names, header fields)."""
    chain, e = [], exc
    while e is not None and len(chain) < 4:
        frames = traceback.extract_tb(e.__traceback__)[-6:]
        chain.append(type(e).__name__ + " at " + " > ".join(
            f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in frames))
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    return " | caused by ".join(chain)


def show_error(exc: Exception, where: str) -> None:
    """Short message with a reference id on the page; the detail, without patient data, in the
    server log under the same id. The session (and its study) is left as it was."""
    from model.core.errors import CheckpointError

    ref = uuid.uuid4().hex[:8]
    if isinstance(exc, CheckpointError):
        # The refusal names the checkpoint folder and sha256 prefixes only.
        log.error("checkpoint refused (reference %s, %s): %s", ref, where, exc)
        st.error(f"The model cannot be served: {exc} Predictions and attribution maps are off "
                 "until an administrator restores the checkpoint; the Study and Viewer pages "
                 f"still work. (reference {ref})", icon=":material/gpp_bad:")
        return
    log.error("page error (reference %s, %s): %s", ref, where, _where(exc))
    st.error(f"Something went wrong on this page (reference {ref}). Your study is still loaded; "
             "try another page or reload. Give the reference to your administrator.",
             icon=":material/error:")

PAGES = [
    st.Page("app_pages/upload.py", title="Study", icon=":material/upload_file:", default=True),
    st.Page("app_pages/viewer.py", title="Viewer", icon=":material/view_in_ar:", url_path="viewer"),
    st.Page("app_pages/prediction.py", title="Prediction", icon=":material/psychology:", url_path="prediction"),
    st.Page("app_pages/survival.py", title="Survival", icon=":material/monitoring:", url_path="survival"),
    st.Page("app_pages/longitudinal.py", title="Longitudinal", icon=":material/timeline:", url_path="longitudinal"),
    st.Page("app_pages/model_card.py", title="Model", icon=":material/description:", url_path="model"),
]
nav = st.navigation(PAGES)

from model.cached import current_study, get_demo_study, set_study  # noqa: E402

try:
    if current_study() is None:
        set_study(get_demo_study())
except Exception as exc:  # no demo study: the app still runs, uploads still work
    show_error(exc, "loading the demo study")



def _sidebar() -> None:
    # A function, not module code: Streamlit keeps the last run's module namespace alive
    # (sys.modules["__main__"]), and a global here would pin a closed session's study.
    study = current_study()
    with st.sidebar:
        st.caption("Loaded study")
        st.write(", ".join(study.sequences) if study else "none")
        st.caption("Research use only: not a medical device, not a diagnosis.")


_sidebar()

try:
    nav.run()
except Exception as exc:  # st.stop()/st.rerun() are BaseExceptions and pass through
    show_error(exc, f"page {getattr(nav, 'title', '?')}")
