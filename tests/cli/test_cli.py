"""Command line: python -m model.predict (in process through its main(); one real subprocess
run, slow) and python -m training.evaluate (slow: it reads real patients)."""

import json
import subprocess
import sys

import nibabel as nib

import pytest

from model.core.config import DEMO_STUDY_DIR, REPO_ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


def _check_demo_json(out: dict, files: list[str]) -> None:
    assert set(out["sequences"]) == {"T1", "T1ce", "T2", "FLAIR"}
    ref = nib.as_closest_canonical(nib.load(files[0]))
    seq = out["sequences"]["T1ce"]
    assert seq["shape"] == list(ref.shape) and seq["orientation"] == "RAS"
    assert seq["spacing_mm"] == [1.0, 1.0, 1.0]
    # One StudyAnalysis (model.analysis), as the Prediction page and the PDF show it.
    for key in ("tumour", "scope", "tumour_type", "prognosis", "grade", "uncertainty", "caveats", "warnings"):
        assert key in out
    for key in ("volume_ml", "extent_mm", "bidimensional_mm2", "centroid_mm", "side", "sequences_used"):
        assert key in out["tumour"]
    assert out["caveats"] == out["warnings"] and out["caveats"]
    # No clinical inputs: no prognosis, and the experimental grade only for a known glioma.
    assert not out["prognosis"]["shown"] and "No clinical inputs" in out["prognosis"]["reason"]
    assert "risk_group" not in json.dumps(out)


def test_predict_json_on_demo_study(capsys):
    """In process: the same main() as ``python -m model.predict``."""
    from model.predict import main

    files = sorted(str(p) for p in DEMO_STUDY_DIR.glob("*.nii.gz"))
    assert main([*files, "--json"]) == 0
    _check_demo_json(json.loads(capsys.readouterr().out), files)


def test_save_mask_and_seg_on_a_nifti_study(tmp_path, capsys):
    """--save-mask writes the RAS NIfTI whose voxels x voxel volume give volume_ml; --save-seg on a
    study that did not come as DICOM writes nothing and says why in the caveats."""
    from model.predict import MASK_FILE, SEG_FILE, main

    files = sorted(str(p) for p in DEMO_STUDY_DIR.glob("*.nii.gz"))
    assert main([*files, "--json", "--save-mask", str(tmp_path), "--save-seg", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    img = nib.load(tmp_path / MASK_FILE)
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    voxel_ml = abs(float(__import__("numpy").linalg.det(img.affine[:3, :3]))) / 1000.0
    n = int((__import__("numpy").asarray(img.dataobj) > 0).sum())
    assert n * voxel_ml == pytest.approx(out["tumour"]["volume_ml"], rel=1e-6)
    assert not (tmp_path / SEG_FILE).exists()
    assert any("did not come as DICOM" in c for c in out["caveats"])
    assert out["saved"] == [str(tmp_path / MASK_FILE)]


@pytest.mark.slow  # a fresh interpreter: torch, MONAI and the checkpoint loaded from scratch
def test_python_m_model_predict_on_demo_study():
    files = sorted(str(p) for p in DEMO_STUDY_DIR.glob("*.nii.gz"))
    r = run("model.predict", *files, "--json")
    assert r.returncode == 0, r.stderr
    _check_demo_json(json.loads(r.stdout), files)


def _plain(tmp_path):
    """The demo FLAIR under a name that says no sequence."""
    out = tmp_path / "scan.nii.gz"
    out.write_bytes((DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t2f.nii.gz").read_bytes())
    return str(out)


def _truncated(tmp_path):
    out = tmp_path / "x_t1.nii.gz"
    out.write_bytes((DEMO_STUDY_DIR / "BraTS-GLI-00001-000-t2f.nii.gz").read_bytes()[:5000])
    return str(out)


@pytest.mark.parametrize("make, message", [
    (_plain, "Cannot tell which sequence"),
    (_truncated, "truncated"),
    (lambda tmp: str(tmp / "missing_t1.nii.gz"), ""),
], ids=["no-sequence-in-name", "truncated", "missing-file"])
def test_predict_refuses_unusable_input_in_one_line(tmp_path, capsys, make, message):
    """In process (the same main() as ``python -m model.predict``): exit code 2 and one line
    on stderr saying why."""
    from model.predict import main

    assert main([make(tmp_path), "--json"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert message in err


def test_predict_seq_prefix_names_the_sequence(tmp_path, capsys):
    from model.predict import main

    assert main([f"FLAIR={_plain(tmp_path)}", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["sequences"]) == ["FLAIR"]


@pytest.mark.slow
@pytest.mark.needs_shared("tcga_lgg_flair_seg", "tcga_clinical")
def test_evaluate_on_a_few_real_patients(shared_data):
    patients = ["TCGA_CS_4941", "TCGA_CS_4942", "TCGA_CS_4944", "TCGA_CS_5393", "TCGA_CS_5395",
                "TCGA_CS_5396"]
    r = run("training.evaluate", "--data", str(shared_data / "tcga_lgg_flair_seg"), "--survival",
            str(shared_data / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"), "--json",
            "--n-boot", "50", "--patients", *patients)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    present = [p for p in patients if (shared_data / "tcga_lgg_flair_seg" / p).is_dir()]
    assert out["n_patients"] == len(present) == len(out["patients"])
    cm = out["confusion_matrix"]
    assert sum(map(sum, cm)) == out["n_patients"]
    assert abs(out["accuracy"] - (cm[0][0] + cm[1][1]) / out["n_patients"]) < 1e-9
    for key in ("labels", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "c_index"):
        assert key in out


@pytest.mark.slow
@pytest.mark.needs_shared("figshare_cheng")
def test_evaluate_slices_per_patient_and_per_slice(shared_data):
    import pandas as pd

    labels = pd.read_csv(shared_data / "figshare_cheng" / "labels.csv", dtype={"patient_id": str})
    patients = sorted(labels["patient_id"].unique())[:4]
    n_slices = int(labels["patient_id"].isin(patients).sum())
    r = run("training.evaluate", "--data", str(shared_data / "figshare_cheng"), "--json",
            "--n-boot", "20", "--patients", *patients)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n_patients"] == 4 and out["per_slice"]["n_patients"] == n_slices
    assert out["labels"] == ["meningioma", "glioma", "pituitary tumour"]
    # The grade checkpoint does not fit tumour-type labels: refused, exit 2.
    r = run("training.evaluate", "--data", str(shared_data / "figshare_cheng"), "--checkpoint",
            str(REPO_ROOT / "model" / "checkpoints" / "grade_lgg"))
    assert r.returncode == 2 and "matching checkpoint" in r.stderr
