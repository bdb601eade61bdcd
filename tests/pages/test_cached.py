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
