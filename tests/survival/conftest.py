"""Fixtures of the survival tests: small synthetic cohorts and the committed TCGA-CDR table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cdr_path(repo_root):
    return repo_root / "data" / "cohorts" / "tcga_cdr_lgg_gbm.csv"


@pytest.fixture(scope="module")
def cdr_os(cdr_path) -> pd.DataFrame:
    """The committed TCGA-CDR LGG + GBM table, OS endpoint (skips when it is not committed)."""
    if not cdr_path.is_file():
        pytest.skip("TCGA-CDR table not committed")
    from model.survival.cohorts import load_tcga_cdr

    return load_tcga_cdr(endpoint="OS")


@pytest.fixture
def tiny() -> pd.DataFrame:
    """times [1, 2, 2, 3, 5] days, events [1, 0, 1, 1, 0] (1 = event, 0 = censored)."""
    return pd.DataFrame({"time_days": [1, 2, 2, 3, 5], "event": [1, 0, 1, 1, 0]})


@pytest.fixture
def groups_data():
    """Factory: k groups ``g0..`` of 40 exponential survivors (scale 300 (i + 1) days) with
    uniform censoring, seeded."""
    def make(seed: int = 1, k: int = 2) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        parts = []
        for i in range(k):
            n = 40
            t = rng.exponential(300 * (i + 1), n)
            c = rng.uniform(0, 900, n)
            parts.append(pd.DataFrame(
                {"time_days": np.minimum(t, c).round(), "event": (t <= c).astype(int), "g": f"g{i}"}))
        return pd.concat(parts, ignore_index=True)

    return make


@pytest.fixture
def cox_data():
    """Factory: ``n`` patients with a binary ``g`` (HR 2 for "b") and ``age_years`` (HR 1.5 per
    10 years), exponential times, uniform censoring."""
    def make(n: int = 300, seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        g = rng.choice(["a", "b"], n)
        age = rng.uniform(30, 80, n)
        lp = np.log(2.0) * (g == "b") + np.log(1.5) * (age - 55) / 10
        t = rng.exponential(1000 * np.exp(-lp))
        c = rng.uniform(0, 3000, n)
        return pd.DataFrame({"time_days": np.minimum(t, c).round(1), "event": (t <= c).astype(int),
                             "g": g, "age_years": age})

    return make


@pytest.fixture
def image_cohort():
    """Factory: synthetic ``cohort_risk.csv`` rows + matching CDR covariates (an informative
    risk score), 60% train / 15% val / 25% test."""
    def make(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(seed)
        ids = [f"TCGA-XX-{i:04d}" for i in range(n)]
        age = rng.uniform(25, 75, n)
        sex = rng.choice(["female", "male"], n)
        grade = rng.choice(["WHO II", "WHO III"], n)
        risk = rng.normal(size=n)
        lp = 0.8 * risk + 0.4 * (age - 50) / 10 + 0.5 * (grade == "WHO III")
        t = rng.exponential(1500 * np.exp(-lp))
        c = rng.uniform(200, 4000, n)
        n_tr, n_va = int(n * 0.6), int(n * 0.15)
        split = np.array(["train"] * n_tr + ["val"] * n_va + ["test"] * (n - n_tr - n_va))
        risk_df = pd.DataFrame({
            "patient_id": [i.replace("-", "_") for i in ids], "risk_score": risk, "split": split,
            "time_days": np.minimum(t, c).round(), "event": (t <= c).astype(int), "grade": grade,
        })
        cdr = pd.DataFrame({"patient_id": ids, "age_years": age.round(), "sex": sex, "grade": grade,
                            "histology": "Astrocytoma"})
        return risk_df, cdr

    return make
