"""Scope before an answer (model.inference.scope): field of view, tumour found, OOD score."""

import json

import numpy as np
import pytest

from model.inference.scope import (MIN_INPLANE_MM, MIN_THROUGHPLANE_MM, OUTSIDE, MahalanobisScorer,
                                   ScopeDecision, check_field_of_view, check_ood, check_tumour,
                                   decide_scope)
from synthetic import Stu, Vol, affine  # tests/inference/synthetic.py


def head(shape=(150, 180, 130), radii=None):
    """An ellipsoid 'head' filling ``shape`` (voxels), background 0."""
    radii = radii or [s / 2 - 2 for s in shape]
    g = np.indices(shape, dtype=np.float32)
    r = sum(((g[i] - shape[i] / 2) / radii[i]) ** 2 for i in range(3))
    return np.where(r <= 1, 100.0 + 10 * np.sin(g[0] / 3), 0.0).astype(np.float32)


def test_head_sized_volume_passes_fov():
    v = Vol(head(), affine((1.0, 1.0, 1.0)))
    c = check_field_of_view(v)
    assert c["passed"] and c["reason"] is None and c["geometry_known"]
    assert c["extent_mm"] == [150.0, 180.0, 130.0]
    assert min(c["foreground_extent_mm"]) >= MIN_THROUGHPLANE_MM


def test_placeholder_geometry_reports_extent_unknown():
    v = Vol(head((128, 128, 30), radii=[60, 60, 14]), np.eye(4))
    c = check_field_of_view(v)
    assert c["geometry_known"] is False
    assert c["extent_mm"] is None and c["foreground_extent_mm"] is None
    assert c["passed"] and "unknown" in c["note"]


REFUSED = [
    # (what, volume factory, words in the reason)
    ("64x64x10 crop at 1 mm", lambda: Vol(head((64, 64, 10)), affine((1.0, 1.0, 1.2))), "cover only"),
    ("thin slab 200x200x5 at 1 mm", lambda: Vol(head((200, 200, 5)), affine((1.0, 1.0, 1.0))),
     "cover only"),
    ("small tissue in a large grid", lambda: Vol(np.pad(head((40, 40, 30)), 80), affine((1.0, 1.0, 1.0))),
     "tissue spans only"),
    ("unknown geometry, 10 slices", lambda: Vol(head((128, 128, 10)), np.eye(4)), "voxel size is unknown"),
    ("unknown geometry, 64 px", lambda: Vol(head((64, 64, 40)), np.eye(4)), "voxel size is unknown"),
]


@pytest.mark.parametrize("what,make,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_fov_refusals(what, make, words):
    c = check_field_of_view(make())
    assert c["passed"] is False
    assert c["reason"].startswith(OUTSIDE) and words in c["reason"]


@pytest.mark.needs_shared("dicom_mr_samples/single/emri_small.dcm")
def test_emri_small_crop_gets_no_prediction(shared_data):
    from model.imaging.study import Study

    study = Study.from_paths([shared_data / "dicom_mr_samples/single/emri_small.dcm"], ["T1ce"])
    d = decide_scope(study, mask=np.ones(study.volumes["T1ce"].shape, bool), load_scorer=False)
    assert isinstance(d, ScopeDecision) and d.in_scope is False
    assert d.checks["field_of_view"]["passed"] is False
    assert d.reasons[0].startswith(OUTSIDE)
    assert "head" in d.reasons[0]


def test_tumour_check():
    v = Vol(head(), affine((1.0, 1.0, 1.0)))
    empty = np.zeros(v.shape, bool)
    assert check_tumour(empty, v)["passed"] is False
    assert check_tumour(None, v)["passed"] is None
    one_ml = empty.copy()
    one_ml[70:80, 80:90, 60:70] = True  # 1000 voxels of 1 mm^3 = 1 mL
    c = check_tumour(one_ml, v)
    assert c["passed"] and c["volume_ml"] == pytest.approx(1.0)
    tiny = empty.copy()
    tiny[70:75, 80:85, 60:65] = True  # 0.125 mL < 0.5 mL
    assert check_tumour(tiny, v)["passed"] is False
    u = Vol(v.data, np.eye(4))
    c = check_tumour(tiny, u)  # 125 voxels >= 27, size unknown
    assert c["passed"] and c["volume_ml"] is None


def test_mahalanobis_rule():
    rng = np.random.default_rng(0)
    f = np.concatenate([rng.normal(0, 1, (200, 8)), rng.normal(3, 1, (200, 8))])
    y = np.repeat([0, 1], 200)
    sc = MahalanobisScorer.fit(f, y, threshold=20.0)
    near = sc.score(rng.normal(0, 1, (5, 8)))
    far = sc.score(rng.normal(12, 1, (5, 8)))
    assert near < 20.0 < far
    assert check_ood(rng.normal(0, 1, (5, 8)), sc)["passed"] is True
    c = check_ood(rng.normal(12, 1, (5, 8)), sc)
    assert c["passed"] is False and c["reason"].startswith(OUTSIDE)
    assert check_ood(None, sc)["passed"] is None
    assert check_ood(f[:3], None)["passed"] is None


def test_scorer_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    sc = MahalanobisScorer.fit(rng.normal(size=(50, 4)), np.repeat([0, 1], 25), threshold=7.5,
                               meta={"a": 1})
    p = tmp_path / "ood.json"
    sc.save(p)
    json.loads(p.read_text())  # strict JSON
    back = MahalanobisScorer.load(p)
    x = rng.normal(size=(3, 4))
    assert back.threshold == 7.5 and back.score(x) == pytest.approx(sc.score(x))


def test_every_check_must_pass():
    v = Vol(head(), affine((1.0, 1.0, 1.0)))
    mask = np.zeros(v.shape, bool)
    mask[60:80, 80:100, 60:80] = True
    d = decide_scope(Stu({"T1ce": v}), mask, type_result=None, load_scorer=False)
    assert d.in_scope is False  # no features, no scorer: cannot vouch for the study
    assert d.checks["field_of_view"]["passed"] and d.checks["tumour"]["passed"]
    assert d.checks["ood"]["passed"] is None and d.reasons
    no_t1ce = decide_scope(Stu({"FLAIR": v}), mask, load_scorer=False)
    assert no_t1ce.in_scope is False and "T1ce" in no_t1ce.reasons[0]


@pytest.mark.needs_shared("demo_cases/brats_met_aurora_example")
def test_sidecar_separation_is_reported(repo_root):
    """The sidecar states the rule, the threshold and the separation with the case counts."""
    p = repo_root / "model/checkpoints/type_figshare/ood_mahalanobis.json"
    d = json.loads(p.read_text())
    sep = d["meta"]["separation"]
    assert d["meta"]["rule_fixed_before_measuring"] is True
    assert sep["out_of_scope"]["metastasis"]["n"] == 1
    assert "few" in sep["caveat"]
    assert np.isfinite(d["threshold"])


@pytest.mark.slow
@pytest.mark.needs_shared("demo_cases/brats_met_aurora_example")
def test_metastasis_flagged_or_honestly_reported(repo_root):
    """The BraTS metastasis: the scope decision agrees with the score recorded in the sidecar
    (flagged when above the threshold; when not, the sidecar says 0 of 1 flagged)."""
    from model.inference.tumour_type import TumourTypeClassifier
    from training.type3d import metastasis_study

    study, mask, _ = metastasis_study()
    clf = TumourTypeClassifier()
    res = clf.classify(study, mask)
    d = decide_scope(study, mask, res)
    side = json.loads((repo_root / "model/checkpoints/type_figshare/ood_mahalanobis.json").read_text())
    rec = side["meta"]["scores"]["metastasis"]["brats_met_aurora_example"]["score"]
    assert d.ood_score == pytest.approx(rec, rel=1e-6)
    flagged = side["meta"]["separation"]["out_of_scope"]["metastasis"]["flagged"]
    assert (d.checks["ood"]["passed"] is False) == (flagged == 1)


def test_assess_refuses_before_classifying():
    """A failed field of view: no classifier is even built (None is passed and never used)."""
    from model.inference.scope import assess

    crop = Vol(head((64, 64, 10)), affine((1.0, 1.0, 1.2)))
    d, res = assess(Stu({"T1ce": crop}), np.ones(crop.shape, bool), classifier=None)
    assert d.in_scope is False and res is None and d.checks["field_of_view"]["passed"] is False


@pytest.mark.slow
@pytest.mark.needs_shared("demo_cases/brats_met_aurora_example")
def test_assess_demo_study(demo_study):
    """The demo glioma through scope + type: the class is computed; whether the OOD rule keeps
    it is reported as measured (its score is in the sidecar)."""
    from model.inference.scope import assess
    from training.type3d import _with_mask

    _, mask, _ = _with_mask(demo_study)
    d, res = assess(demo_study, mask)
    assert d.checks["field_of_view"]["passed"] and d.checks["tumour"]["passed"]
    assert res is not None and res.predicted == "glioma"
    assert d.in_scope == (d.ood_score <= d.threshold)


@pytest.mark.slow
@pytest.mark.needs_shared("demo_cases")
def test_the_app_and_the_sidecar_agree_on_the_demo_score(demo_study, repo_root):
    """The demo's OOD score on the app's path (served segmenter on every sequence, then scope)
    is the one the sidecar records (training.type3d loads every sequence too; it once loaded
    T1ce + FLAIR only, so the segmenter made another mask: 134.9 recorded vs 140.4 shown)."""
    from model.analysis import assess_type, find_tumour, load_segmenter
    from model.inference.tumour_type import TumourTypeClassifier

    seg, why = load_segmenter()
    if seg is None:
        pytest.skip(why)
    decision, finding = assess_type(demo_study, find_tumour(demo_study, seg), TumourTypeClassifier())
    side = json.loads((repo_root / "model/checkpoints/type_figshare/ood_mahalanobis.json").read_text())
    rec = side["meta"]["scores"]["brats_glioma"]["brats_gli_00001_000 (= data/demo_study)"]["score"]
    assert decision.ood_score == pytest.approx(rec, rel=1e-9)
    assert decision.in_scope == (rec <= side["threshold"])
    assert (finding.result is None) == (not decision.in_scope)


def test_type_ood_file_setting_names_the_sidecar(tmp_path, monkeypatch):
    """$TUMORBOARD_TYPE_OOD (model.core.config.TYPE_OOD_FILE) replaces the checkpoint's
    sidecar; a missing file means no statistics (the OOD check cannot pass)."""
    import model.core.config as config
    from synthetic import ADMIT_ALL, admitting_scorer

    path = tmp_path / "site_ood.json"
    admitting_scorer().save(path)
    monkeypatch.setattr(config, "TYPE_OOD_FILE", path)
    assert MahalanobisScorer.load().threshold == ADMIT_ALL
    monkeypatch.setattr(config, "TYPE_OOD_FILE", tmp_path / "missing.json")
    assert MahalanobisScorer.load() is None
    assert check_ood(np.zeros((2, 128)), None)["passed"] is None
