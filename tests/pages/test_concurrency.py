"""Sessions share one model (``st.cache_resource``): they must not interfere.

* In process: threads standing for sessions attribute two *different* studies with every
  method at once (hook-based LayerGradCam among them) while others predict; each result equals
  the one computed alone, and no hook is left on the shared network.
* Real browser (marked ``browser``): 3 Chromium sessions against one ``streamlit run app.py``
  load studies, predict and compute maps at the same time; no error, every session sees the
  prediction computed in process, and sessions that computed the same (study, method) got the
  same rendered map. The 10-session, several-minute version is ``python -m bench.load``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from model.core.config import REPO_ROOT
from model.inference.classify import ATTRIBUTION_METHODS
from model.imaging.study import Study

#: Cheap settings so every method runs in a few seconds on a 2-core CPU.
FAST = {"n_steps": 4, "internal_batch_size": 2, "window": 64, "stride": 64}


@pytest.fixture()
def served_threads():
    """Torch threads as the server sets them (model.cached.configure_torch_threads), restored
    afterwards."""
    import torch

    from model.cached import configure_torch_threads

    before = torch.get_num_threads()
    yield configure_torch_threads()
    torch.set_num_threads(before)


def _hooks(net) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in net.modules())


@pytest.fixture(scope="module")
def two_studies(demo_study):
    """Two different one-sequence studies: demo FLAIR, and demo T1ce flipped left-right."""
    from model.imaging.volume import Volume
    import dataclasses

    flair = Study(volumes={"FLAIR": demo_study.volumes["FLAIR"]})
    t1ce = demo_study.volumes["T1ce"]
    other = dataclasses.replace(t1ce, data=np.ascontiguousarray(t1ce.data[::-1]),
                                content_hash="flipped-" + t1ce.content_hash)
    assert isinstance(other, Volume)
    return {"flair": flair, "t1ce_flipped": Study(volumes={"T1ce": other})}


@pytest.mark.slow  # every method on two studies, twice, on 10 threads: ~40 s on 2 cores
def test_sessions_attributing_different_studies_at_once_get_their_own_maps(predictor, two_studies,
                                                                         served_threads):
    prepared = {k: predictor.prepare(s) for k, s in two_studies.items()}
    jobs = [(k, m) for k in two_studies for m in ATTRIBUTION_METHODS]
    reference = {(k, m): predictor.attribution(two_studies[k], m, prepared=prepared[k], **FAST)
                 for k, m in jobs}
    ref_pred = {k: predictor.predict(two_studies[k], prepared[k]).probabilities for k in two_studies}

    results, preds, errors = {}, [], []
    barrier = threading.Barrier(len(jobs) + 2)

    def attribute(k, m):
        try:
            barrier.wait(timeout=60)
            results[(k, m)] = predictor.attribution(two_studies[k], m, prepared=prepared[k], **FAST)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append((k, m, exc))

    def predict(k):
        try:
            barrier.wait(timeout=60)
            for _ in range(2):
                preds.append((k, predictor.predict(two_studies[k], prepared[k]).probabilities))
        except Exception as exc:  # pragma: no cover
            errors.append((k, "predict", exc))

    threads = [threading.Thread(target=attribute, args=j) for j in jobs]
    threads += [threading.Thread(target=predict, args=(k,)) for k in two_studies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a session hung"
    assert not errors, errors
    for key, maps in reference.items():
        assert results[key].keys() == maps.keys()
        for seq in maps:
            np.testing.assert_allclose(results[key][seq], maps[seq], atol=1e-5, err_msg=str(key))
    # The two studies' maps really differ (so a mix-up would have been seen).
    assert not np.allclose(reference[("flair", "Saliency")]["FLAIR"].sum(),
                           reference[("t1ce_flipped", "Saliency")]["T1ce"].sum())
    for k, p in preds:
        assert p == pytest.approx(ref_pred[k], abs=1e-6)
    assert _hooks(predictor.net) == 0  # a hang is caught by the join timeout above


# --------------------------------------------------------------------------------------------
# Real browser sessions

from bench.live import have_chromium  # noqa: E402


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not have_chromium(), reason="Debian chromium not installed")
@pytest.mark.needs_shared("demo_cases/tcga_fg_6692_raw")
def test_three_browser_sessions_at_once(predictor, tcga_raw, tmp_path):
    """3 sessions, 2 rounds each, at the same time; < 90 s on an idle 2-core CPU.

    The rounds open the experimental grade and compute its maps; the served scope rule keeps
    the grade closed for both studies (skull-stripped demo, raw TCGA: out of scope), so the
    server runs with a stand-in rule that admits every study (tests/inference/synthetic.py):
    this test is about concurrent sessions, not the scope decision."""
    import asyncio

    from bench.live import (RssMonitor, launch, open_app, streamlit_server, study_round)
    from tests.inference.synthetic import admitting_env

    plan = {  # each (study, method) is computed by two different sessions, at different times
        0: [("demo", "Saliency"), ("tcga_fg_6692", "LayerGradCam")],
        1: [("demo", "LayerGradCam"), ("demo", "Saliency")],
        2: [("tcga_fg_6692", "LayerGradCam"), ("demo", "LayerGradCam")],
    }

    async def drive(url):
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await launch(p)
            try:
                async def session(i):
                    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
                    try:
                        page = await open_app(ctx, url, 120_000)
                        return [await study_round(page, s, m, 120_000) for s, m in plan[i]]
                    finally:
                        await ctx.close()
                # A hang guard, not a speed limit (speed is measured in bench/): each study round now also
                # segments the study and checks its scope, so give three sessions on 2 cores room.
                return await asyncio.wait_for(asyncio.gather(*(session(i) for i in plan)), 480)
            finally:
                await browser.close()

    t0 = time.perf_counter()
    with streamlit_server(env=admitting_env(tmp_path), log_dir=REPO_ROOT / "test-artifacts") as server:
        mon = RssMonitor(server.pid)
        mon.start()
        try:
            rounds = asyncio.run(drive(server.url))
        finally:
            mon.stop()
        log = server.log()
    took = time.perf_counter() - t0
    flat = [o for rs in rounds for o in rs]
    assert not [o.errors for o in flat if o.errors], [(o.study, o.method, o.errors) for o in flat]
    assert "Traceback" not in log, log[-3000:]

    # Predictions: every session shows what the predictor computes alone.
    studies = {"demo": Study.demo(),
               "tcga_fg_6692": Study.from_paths(sorted(tcga_raw.glob("*.nii.gz")))}
    for o in flat:
        pred = predictor.predict(studies[o.study])
        assert pred.predicted_class in o.metrics, (o.study, o.metrics)
        assert f"p = {pred.probabilities[pred.predicted_class]:.2f}" in o.metrics, (o.study, o.metrics)
        assert f"{pred.risk_score:+.2f}" in o.metrics, (o.study, o.metrics)
    # Maps: the same (study, method) rendered the same images in different sessions.
    seen: dict[tuple[str, str], set] = {}
    for o in flat:
        assert o.overlay_src, (o.study, o.method)
        seen.setdefault((o.study, o.method), set()).add(o.signature)
    assert all(len(v) == 1 for v in seen.values()), seen
    assert mon.max_mb < 4000, f"server RSS {mon.max_mb:.0f} MB"
    print(f"3 sessions x 2 rounds in {took:.0f} s; server RSS max {mon.max_mb:.0f} MB")
