"""Command line: python -m model.predict and python -m training.evaluate."""

import json
import subprocess
import sys

import nibabel as nib

from conftest import DEMO_DIR, ROOT, SHARED, needs_shared


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_predict_json_on_demo_study():
    files = sorted(str(p) for p in DEMO_DIR.glob("*.nii.gz"))
    r = run("model.predict", *files, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["sequences"]) == {"T1", "T1ce", "T2", "FLAIR"}
    ref = nib.as_closest_canonical(nib.load(files[0]))
    seq = out["sequences"]["T1ce"]
    assert seq["shape"] == list(ref.shape) and seq["orientation"] == "RAS"
    assert seq["spacing_mm"] == [1.0, 1.0, 1.0]
    assert abs(sum(out["probabilities"].values()) - 1) < 1e-6
    for key in ("sequence_weights", "risk_score", "warnings"):
        assert key in out


def test_predict_seq_prefix_and_errors(tmp_path):
    src = DEMO_DIR / "BraTS-GLI-00001-000-t2f.nii.gz"
    plain = tmp_path / "scan.nii.gz"
    plain.write_bytes(src.read_bytes())
    r = run("model.predict", str(plain), "--json")
    assert r.returncode == 2 and "Cannot tell which sequence" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run("model.predict", f"FLAIR={plain}", "--json")
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["sequence_weights"]) == ["FLAIR"]
    bad = tmp_path / "x_t1.nii.gz"
    bad.write_bytes(src.read_bytes()[:5000])
    r = run("model.predict", str(bad))
    assert r.returncode == 2 and "truncated" in r.stderr


@needs_shared(SHARED / "tcga_lgg_flair_seg")
def test_evaluate_on_a_few_real_patients():
    patients = ["TCGA_CS_4941", "TCGA_CS_4942", "TCGA_CS_4944", "TCGA_CS_5393", "TCGA_CS_5395",
                "TCGA_CS_5396"]
    r = run("training.evaluate", "--data", str(SHARED / "tcga_lgg_flair_seg"), "--survival",
            str(SHARED / "tcga_clinical" / "tcga_lgg_flair_seg_survival.csv"), "--json",
            "--n-boot", "50", "--patients", *patients)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    present = [p for p in patients if (SHARED / "tcga_lgg_flair_seg" / p).is_dir()]
    assert out["n_patients"] == len(present) == len(out["patients"])
    cm = out["confusion_matrix"]
    assert sum(map(sum, cm)) == out["n_patients"]
    assert abs(out["accuracy"] - (cm[0][0] + cm[1][1]) / out["n_patients"]) < 1e-9
    for key in ("labels", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "c_index"):
        assert key in out


@needs_shared(SHARED / "figshare_cheng")
def test_evaluate_slices_per_patient_and_per_slice():
    import pandas as pd

    labels = pd.read_csv(SHARED / "figshare_cheng" / "labels.csv", dtype={"patient_id": str})
    patients = sorted(labels["patient_id"].unique())[:4]
    n_slices = int(labels["patient_id"].isin(patients).sum())
    r = run("training.evaluate", "--data", str(SHARED / "figshare_cheng"), "--json",
            "--n-boot", "20", "--patients", *patients)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n_patients"] == 4 and out["per_slice"]["n_patients"] == n_slices
    assert out["labels"] == ["meningioma", "glioma", "pituitary tumour"]
    # The grade checkpoint does not fit tumour-type labels: refused, exit 2.
    r = run("training.evaluate", "--data", str(SHARED / "figshare_cheng"), "--checkpoint",
            str(ROOT / "model" / "checkpoints" / "grade_lgg"))
    assert r.returncode == 2 and "matching checkpoint" in r.stderr
