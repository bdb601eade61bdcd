"""model.cached owns the session: per-study slots live as long as their study, the pages'
own key names never appear in it."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

import model.cached as cached
from model.imaging.study import Study


def _probe():
    """Loads ``_next`` when given, then appends to a per-study slot and reports it."""
    import streamlit as st

    from model.cached import current_study, per_study, set_study

    if "_next" in st.session_state:
        set_study(st.session_state.pop("_next"))
    slot, fresh = per_study(current_study(), "probe", list)
    slot.append(1)
    st.session_state["_fresh"], st.session_state["_len"] = fresh, len(slot)


def test_per_study_slots_follow_the_study(demo_study):
    a = Study(volumes={"FLAIR": demo_study.volumes["FLAIR"]})
    b = Study(volumes={"T1ce": demo_study.volumes["T1ce"]})
    assert a.key != b.key
    at = AppTest.from_function(_probe)
    seen = []
    for nxt in (a, None, a, b, None):
        if nxt is not None:
            at.session_state["_next"] = nxt
        at.run()
        assert not at.exception
        seen.append((at.session_state["_fresh"], at.session_state["_len"]))
    # new slot; kept on rerun; kept when the same study is loaded again; dropped for another
    assert seen == [(True, 1), (False, 2), (False, 3), (True, 1), (False, 2)]


def test_cached_does_not_name_the_pages_keys():
    src = "".join(line for f in Path(cached.__file__).parent.glob("*.py")
                  for line in f.read_text().splitlines(keepends=True) if not line.startswith("__all__"))
    for page_key in ("viewer_", "attr_stats", "attr_", "long_", "viewer_cache"):
        assert f'"{page_key}' not in src, page_key


def _upload_probe():
    """An uploader keyed by model.cached; once files arrive, records how many of them
    Streamlit's upload manager holds before and after :func:`model.cached.reset_uploader`."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from model.cached import reset_uploader, uploader_key

    files = st.file_uploader("files", accept_multiple_files=True, key=uploader_key())
    if files:
        ctx = get_script_run_ctx()
        ids = [f.file_id for f in files]
        st.session_state["_held"] = [len(ctx.uploaded_file_mgr.get_files(ctx.session_id, ids))]
        reset_uploader()
        st.session_state["_held"].append(len(ctx.uploaded_file_mgr.get_files(ctx.session_id, ids)))


def test_reset_uploader_frees_the_uploaded_bytes():
    """A new uploader key alone leaves the bytes in Streamlit's server-wide upload manager
    until the session ends (+8 MB per upload in bench.memory); reset_uploader removes them."""
    at = AppTest.from_function(_upload_probe)
    at.run()
    at.get("file_uploader")[0].set_value([("a.nii.gz", b"\x1f\x8b" + bytes(1000), "application/gzip"),
                                          ("b.nii.gz", b"\x1f\x8b" + bytes(2000), "application/gzip")])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_held"] == [2, 0]
