"""Longitudinal glioblastoma model, inference side: visit tables, input vectors, checkpoints and
the risk after each visit (the networks are :mod:`model.nets.longitudinal`, the figure
:mod:`model.views.longitudinal_figures`).

Inputs are **tabular features per visit, not images**: for every visit (imaging time point) of
one patient, the time since the patient's first visit, the expert RANO rating and 32 FLAIR
pyradiomics features (the ``lumiere_longitudinal`` table: LUMIERE, Suter Y et al., Sci Data
2022;9:768, doi:10.1038/s41597-022-01881-7; derived table by S. Sarirchi,
doi:10.5281/zenodo.17818439; non-commercial research use, believed CC BY-NC 4.0).

For each endpoint, overall survival (``os``) and time to progression (``ttp``, progression =
first visit rated PD), an ensemble of small unidirectional LSTMs reads the visits in time order
and outputs, after each visit ``k``, a log relative hazard (Cox scale). The 32 radiomics enter as
4 principal components fitted on the training visits (:class:`FeatureSpec`). Because the
networks are causal, the risk after visit ``k`` depends only on visits ``0..k`` (tested in
``tests/training/test_longitudinal.py``).

Visit table (CSV), the columns of ``lumiere_longitudinal/visits.csv``; required:

* ``Timepoint``: ``week-NNN`` or ``week-NNN-S`` (LUMIERE folder name; whole weeks; ``-S`` orders
  two scans in the same week, e.g. ``-1`` pre-op and ``-2`` post-op). Time comes from here.
* ``Rating``: expert RANO rating, one of PD, SD, PR, CR, Pre-Op, Post-Op, Post-Op/PD, or empty.
* the 32 FLAIR radiomics columns of :data:`RADIOMIC_FEATURES` (numbers; empty = not measured).

Optional: ``Patient`` (one table may hold several patients; default ``uploaded patient``); any
other column of visits.csv (``week``, ``Survival``, ``Sex``, ...) is kept but never used as a
model input.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from model.core.config import DEFAULT_LONGITUDINAL_CHECKPOINT
from model.core.errors import CheckpointError, VisitTableError
from model.core.units import WEEKS_PER_YEAR
from model.nets.checkpoint import verified_card, write_checkpoint
from model.nets.longitudinal import LongitudinalConfig, LongitudinalEnsemble

#: File of the held-out test patients' visits stored in the checkpoint folder.
HELD_OUT_VISITS = "test_visits.csv"

#: FLAIR pyradiomics features (DeepBraTumIA segmentation) of visits.csv, in model input order.
RADIOMIC_FEATURES: tuple[str, ...] = (
    "diagnostics_Image.original_Mean", "diagnostics_Image.original_Maximum",
    "diagnostics_Image.interpolated_Mean", "diagnostics_Image.interpolated_Maximum",
    "original_shape_Elongation", "original_shape_Flatness", "original_shape_LeastAxisLength",
    "original_shape_MajorAxisLength", "original_shape_Maximum2DDiameterColumn",
    "original_shape_Maximum2DDiameterRow", "original_shape_Maximum2DDiameterSlice",
    "original_shape_MinorAxisLength", "original_shape_Sphericity",
    "original_shape_SurfaceVolumeRatio", "original_firstorder_10Percentile",
    "original_firstorder_90Percentile", "original_firstorder_Skewness",
    "original_firstorder_Uniformity", "original_glcm_Correlation",
    "original_glcm_DifferenceEntropy", "original_glcm_DifferenceVariance", "original_glcm_Imc1",
    "original_glcm_Imc2", "original_glcm_MCC", "original_glcm_MaximumProbability",
    "original_glrlm_LongRunHighGrayLevelEmphasis",
    "original_glszm_SizeZoneNonUniformityNormalized", "original_glszm_ZoneEntropy",
    "original_gldm_LargeDependenceEmphasis", "original_gldm_LargeDependenceHighGrayLevelEmphasis",
    "original_ngtdm_Busyness", "original_ngtdm_Strength",
)
#: RANO rating categories (one-hot); ``Post-Op/PD`` sets both Post-Op and PD; empty = missing.
RATINGS: tuple[str, ...] = ("PD", "SD", "PR", "CR", "Pre-Op", "Post-Op")
ALLOWED_RATINGS = frozenset(RATINGS) | {"Post-Op/PD"}
REQUIRED_COLUMNS: tuple[str, ...] = ("Timepoint", "Rating", *RADIOMIC_FEATURES)
#: Limits on an uploaded visit table.
MAX_TABLE_BYTES = 2 * 1024 * 1024
MAX_VISITS_PER_PATIENT = 200
MAX_PATIENTS = 500
DEFAULT_PATIENT = "uploaded patient"
_TIMEPOINT = re.compile(r"^week-(\d{1,4})(?:-(\d{1,2}))?$")
#: Per-visit input vector: time, rating one-hot, missing flag, standardised radiomics.
BASE_INPUTS: tuple[str, ...] = (
    "years_since_first_visit", "years_since_previous_visit",
    *(f"rano_{r}" for r in RATINGS), "rano_missing", "radiomics_missing",
)
_Z_CLIP = 6.0


# ----------------------------------------------------------------------------- visit tables
def _fail_rows(what: str, rows: pd.Index | list) -> VisitTableError:
    rows = [int(r) + 2 for r in list(rows)[:5]]  # +2: 1-based with the header line
    return VisitTableError(f"{what} (CSV line{'s' if len(rows) > 1 else ''} "
                           f"{', '.join(map(str, rows))}).")


def validate_visits(table: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise a visit table already parsed into a DataFrame.

    Parameters
    ----------
    table : pd.DataFrame
        one row per visit with at least :data:`REQUIRED_COLUMNS` (see module doc).

    Returns
    -------
    pd.DataFrame
        A new DataFrame sorted by patient and time, index 0..n-1, holding every input column
        plus: ``Patient`` (str), ``week_int`` (int, weeks from the LUMIERE time origin),
        ``scan_no`` (int, 0 when one scan that week), ``weeks_from_first_visit`` (int, weeks
        since the patient's first visit, which is time 0 of the model), ``visit_index`` (int,
        0-based order within the patient), ``rating_clean`` (str or NaN), and the radiomics
        columns as float64 (NaN where not measured). Idempotent.

    Raises
    ------
    VisitTableError
        no rows, missing columns, a ``Timepoint`` that is not ``week-NNN`` /
        ``week-NNN-S``, the same time point twice for a patient, an unknown RANO rating,
        non-numeric or infinite feature values, or more than the size limits.
    """
    if not isinstance(table, pd.DataFrame):
        raise VisitTableError("The visit table must be a table (CSV) with one row per visit.")
    if len(table) == 0:
        raise VisitTableError("The visit table has no rows: give one row per imaging visit.")
    df = table.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise VisitTableError(
            f"The visit table lacks {len(missing)} required column{'s' if len(missing) > 1 else ''}: "
            f"{shown}. Use the columns of lumiere_longitudinal/visits.csv (Timepoint, Rating and the "
            f"32 FLAIR radiomics features).")
    df = df.reset_index(drop=True)
    if "Patient" not in df.columns:
        df["Patient"] = DEFAULT_PATIENT
    pat = df["Patient"]
    if pat.isna().any():
        raise _fail_rows("Some rows have an empty Patient", df.index[pat.isna()])
    df["Patient"] = pat.astype(str).str.strip()
    if df["Patient"].nunique() > MAX_PATIENTS:
        raise VisitTableError(f"The visit table holds more than {MAX_PATIENTS} patients.")

    tp = df["Timepoint"].astype(str).str.strip()
    parsed = tp.str.extract(_TIMEPOINT)
    bad = parsed[0].isna() | df["Timepoint"].isna()
    if bad.any():
        raise _fail_rows("Timepoint must look like week-044 or week-000-1 (whole weeks, optional "
                         "scan number)", df.index[bad])
    df["Timepoint"] = tp
    df["week_int"] = parsed[0].astype(int)
    df["scan_no"] = pd.to_numeric(parsed[1], errors="coerce").fillna(0).astype(int)
    dup = df.duplicated(["Patient", "week_int", "scan_no"], keep=False)
    if dup.any():
        raise _fail_rows("The same time point appears twice for one patient", df.index[dup])

    rating = df["Rating"].where(df["Rating"].notna(), None)
    rating = rating.map(lambda r: None if r is None else re.sub(r"\s+", "", str(r)))
    rating = rating.map(lambda r: None if r in ("", "nan", "NA", "na", "None") else r)
    unknown = rating.map(lambda r: r is not None and r not in ALLOWED_RATINGS)
    if unknown.any():
        raise _fail_rows(f"Unknown RANO rating (allowed: {', '.join(sorted(ALLOWED_RATINGS))} "
                         f"or empty)", df.index[unknown])
    df["rating_clean"] = rating.astype(object)

    for col in RADIOMIC_FEATURES:
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        text_bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if text_bad.any():
            raise _fail_rows(f"Column {col} must hold numbers", df.index[text_bad])
        if np.isinf(num.to_numpy(dtype=float)).any():
            raise _fail_rows(f"Column {col} holds an infinite value",
                             df.index[np.isinf(num.to_numpy(dtype=float))])
        df[col] = num.astype(float)

    df = df.sort_values(["Patient", "week_int", "scan_no"], kind="stable").reset_index(drop=True)
    g = df.groupby("Patient", sort=False)
    if g.size().max() > MAX_VISITS_PER_PATIENT:
        raise VisitTableError(f"A patient has more than {MAX_VISITS_PER_PATIENT} visits.")
    df["weeks_from_first_visit"] = (df["week_int"] - g["week_int"].transform("min")).astype(int)
    df["visit_index"] = g.cumcount().astype(int)
    return df


def load_visit_table(source: bytes | str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and validate a visit table (CSV bytes, a CSV path, or a DataFrame).

    Parameters
    ----------
    source : bytes | str | Path | pd.DataFrame
        CSV content as ``bytes`` (e.g. an upload; UTF-8, comma separated, header row),
        a path to a CSV file, or a DataFrame.

    Returns
    -------
    pd.DataFrame
        The normalised table of :func:`validate_visits`.

    Raises
    ------
    VisitTableError
        empty, larger than :data:`MAX_TABLE_BYTES`, not UTF-8 text, not
        parseable as CSV, or any content error of :func:`validate_visits`.
    """
    if isinstance(source, pd.DataFrame):
        return validate_visits(source)
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise VisitTableError(f"Cannot read the visit table {Path(source).name} "
                                  f"({exc.strerror or type(exc).__name__}).") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise VisitTableError("The visit table must be CSV bytes, a file path or a table.")
    if not data.strip():
        raise VisitTableError("The visit table is empty: upload a CSV with a header row and one "
                              "row per visit.")
    if len(data) > MAX_TABLE_BYTES:
        raise VisitTableError(f"The visit table is larger than {MAX_TABLE_BYTES // 1024 // 1024} MB.")
    if b"\x00" in data[:4096]:
        raise VisitTableError("This file is not a CSV text table (binary content).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VisitTableError("The visit table is not UTF-8 text: save it as CSV (UTF-8).") from None
    try:
        table = pd.read_csv(io.StringIO(text), dtype={"Patient": str, "Timepoint": str,
                                                      "Rating": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise VisitTableError(f"The visit table is not a readable CSV ({str(exc)[:120]}).") from None
    return validate_visits(table)


# ----------------------------------------------------------------------------- features
def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: tames the heavy tails of radiomics (values 1e-3 .. 1e5)."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class FeatureSpec:
    """How one visit becomes an input vector; every statistic comes from the train split only.

    Attributes
    ----------
    radiomics : tuple[str, ...]
        names of the radiomics columns (default :data:`RADIOMIC_FEATURES`).
    mean, std
        per radiomics feature, mean and standard deviation of ``signed_log1p(value)``
        over the training patients' visits (z-scoring).
    components : list[list[float]], optional
        optional (K, len(radiomics)) principal axes of the training visits'
        z-scores; when given, the K principal-component scores (divided by ``pc_std``)
        replace the radiomics in the input (a bottleneck against over-fitting: ~50
        training patients, 32 correlated features).
    pc_std : list[float], optional
        (K,) standard deviation of each component score over the training visits.
    """

    radiomics: tuple[str, ...]
    mean: list[float]
    std: list[float]
    components: list[list[float]] | None = None
    pc_std: list[float] | None = None

    @property
    def radiomics_inputs(self) -> list[str]:
        if self.components:
            return [f"flair_radiomics_pc{i + 1}" for i in range(len(self.components))]
        return [f"z_log_{c}" for c in self.radiomics]

    @property
    def names(self) -> list[str]:
        """Input feature names in order (length :attr:`n_inputs`)."""
        return [*BASE_INPUTS, *self.radiomics_inputs]

    @property
    def n_inputs(self) -> int:
        return len(BASE_INPUTS) + len(self.radiomics_inputs)

    def to_dict(self) -> dict:
        return {"radiomics": list(self.radiomics), "mean": list(map(float, self.mean)),
                "std": list(map(float, self.std)), "components": self.components,
                "pc_std": self.pc_std,
                "transform": ("z = clip((signed_log1p(x) - mean) / std, -6, 6), missing -> 0 (the "
                              "train mean); with components: pc = clip(z @ components.T / pc_std, -6, 6)"),
                "input_names": self.names}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(tuple(d["radiomics"]), list(d["mean"]), list(d["std"]), d.get("components"),
                   d.get("pc_std"))

    def radiomics_block(self, raw: np.ndarray) -> np.ndarray:
        """(T, len(radiomics)) raw values (NaN = missing) -> (T, K or 32) model inputs."""
        z = (signed_log1p(raw) - np.asarray(self.mean)) / np.asarray(self.std)
        z = np.clip(np.nan_to_num(z, nan=0.0), -_Z_CLIP, _Z_CLIP)
        if self.components:
            z = np.clip(z @ np.asarray(self.components).T / np.asarray(self.pc_std), -_Z_CLIP, _Z_CLIP)
        return z


def fit_feature_spec(train_visits: pd.DataFrame, n_components: int = 0,
                     radiomics: tuple[str, ...] = RADIOMIC_FEATURES) -> FeatureSpec:
    """Standardisation (and optional PCA) statistics from the **training** visits only.

    Parameters
    ----------
    train_visits : pd.DataFrame
        validated visit rows of the training patients.
    n_components : int, optional
        0 keeps the 32 z-scored radiomics; K > 0 keeps K principal components.
    """
    v = signed_log1p(train_visits[list(radiomics)].to_numpy(dtype=float))
    mean = np.nanmean(v, axis=0)
    std = np.nanstd(v, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    spec = FeatureSpec(tuple(radiomics), mean.tolist(), std.tolist())
    if n_components:
        z = spec.radiomics_block(train_visits[list(radiomics)].to_numpy(dtype=float))
        _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
        comp = vt[:n_components]
        comp *= np.sign(comp.sum(1, keepdims=True) + 1e-12)  # deterministic sign
        sd = (z @ comp.T).std(0)
        spec.components = comp.tolist()
        spec.pc_std = np.where(sd > 1e-8, sd, 1.0).tolist()
    return spec


def patient_features(visits: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Input matrix of one patient's visits.

    Parameters
    ----------
    visits : pd.DataFrame
        the validated rows of **one** patient, in time order (:func:`validate_visits`).
    spec : FeatureSpec
        feature specification with train-split statistics.

    Returns
    -------
    np.ndarray
        float32 array (T, spec.n_inputs), columns :attr:`FeatureSpec.names`: years since the
        first visit, years since the previous visit (0 at the first), RANO one-hot (PD, SD,
        PR, CR, Pre-Op, Post-Op, missing), radiomics-missing flag (any feature not measured),
        then the radiomics block (:meth:`FeatureSpec.radiomics_block`).
    """
    weeks = visits["weeks_from_first_visit"].to_numpy(dtype=float)
    t = weeks / WEEKS_PER_YEAR
    dt = np.diff(t, prepend=t[:1])
    r = visits["rating_clean"].to_numpy(dtype=object)
    onehot = np.zeros((len(visits), len(RATINGS) + 1))
    for i, rating in enumerate(r):
        if rating is None or (isinstance(rating, float) and math.isnan(rating)):
            onehot[i, -1] = 1
        elif rating == "Post-Op/PD":
            onehot[i, RATINGS.index("Post-Op")] = 1
            onehot[i, RATINGS.index("PD")] = 1
        else:
            onehot[i, RATINGS.index(rating)] = 1
    raw = visits[list(spec.radiomics)].to_numpy(dtype=float)
    miss = np.isnan(raw)
    x = np.column_stack([t, dt, onehot, miss.any(axis=1).astype(float), spec.radiomics_block(raw)])
    return x.astype(np.float32)


def batch_features(visits: pd.DataFrame, spec: FeatureSpec
                   ) -> tuple[list[str], torch.Tensor, torch.Tensor, np.ndarray]:
    """Pad every patient's visits into one batch.

    Returns
    -------
    tuple[list[str], torch.Tensor, torch.Tensor, np.ndarray]
        ``(patients, x, lengths, weeks)``: patient ids (B,), float32 tensor (B, T_max, F) zero
        padded at the end, int64 tensor (B,) of visit counts, and float64 array (B, T_max) of
        weeks since the first visit (``inf`` on padding).
    """
    pats = list(dict.fromkeys(visits["Patient"]))
    mats, wks = [], []
    for p in pats:
        rows = visits[visits["Patient"] == p]
        mats.append(patient_features(rows, spec))
        wks.append(rows["weeks_from_first_visit"].to_numpy(dtype=float))
    tmax = max(len(m) for m in mats)
    x = np.zeros((len(pats), tmax, spec.n_inputs), dtype=np.float32)
    weeks = np.full((len(pats), tmax), np.inf)
    for i, (m, w) in enumerate(zip(mats, wks)):
        x[i, : len(m)] = m
        weeks[i, : len(w)] = w
    return pats, torch.from_numpy(x), torch.tensor([len(m) for m in mats]), weeks


@dataclass
class LongitudinalModel:
    """A loaded longitudinal checkpoint: network, feature specification and model card.

    ``offsets`` (one per output) are the mean training-visit log hazards; subtracting them makes
    0 the risk of an average training visit.
    """

    net: LongitudinalEnsemble
    spec: FeatureSpec
    offsets: list[float]
    card: dict = field(default_factory=dict)

    @torch.no_grad()
    def risks(self, visits: pd.DataFrame) -> tuple[list[str], np.ndarray, torch.Tensor, np.ndarray]:
        """Centred log hazards after each visit: ``(patients, risk (B,T,n_outputs), lengths, weeks)``."""
        pats, x, lengths, weeks = batch_features(visits, self.spec)
        self.net.eval()
        out = self.net(x).numpy().astype(float) - np.asarray(self.offsets)
        return pats, out, lengths, weeks


def save_longitudinal(folder: Path, model: LongitudinalModel, card: dict) -> dict:
    """Write ``model.safetensors`` and ``model_card.json`` (with architecture, features, sha256).

    Returns the card as written.
    """
    card = write_checkpoint(folder, model.net, dict(
        card, architecture=model.net.config.to_dict(), features=model.spec.to_dict(),
        risk_offsets=dict(zip(model.net.config.outputs, map(float, model.offsets)))))
    model.card = card
    return card


def load_longitudinal(folder: Path | str = DEFAULT_LONGITUDINAL_CHECKPOINT) -> LongitudinalModel:
    """Load a longitudinal checkpoint (safetensors only), verifying the sha256 of its card.

    Raises
    ------
    CheckpointError
        missing card or weights, invalid JSON, sha256 mismatch, or weights
        that do not fit the card's architecture.
    """
    folder = Path(folder)
    card, weights = verified_card(folder)
    try:
        cfg = LongitudinalConfig.from_dict(card["architecture"])
        spec = FeatureSpec.from_dict(card["features"])
        offsets = [float(card["risk_offsets"][o]) for o in cfg.outputs]
        if spec.n_inputs != cfg.n_inputs:
            raise ValueError("feature count differs from the architecture")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The model card has no valid architecture/features ({exc}).") from None
    net = LongitudinalEnsemble(cfg)
    try:
        net.load_state_dict(load_file(str(weights)), strict=True)
    except Exception as exc:
        raise CheckpointError(f"The weights do not fit the architecture in the model card "
                              f"({type(exc).__name__}: {str(exc)[:200]}).") from None
    net.eval()
    return LongitudinalModel(net, spec, offsets, card)


def load_held_out_visits(folder: Path | str = DEFAULT_LONGITUDINAL_CHECKPOINT) -> pd.DataFrame:
    """The held-out test patients' visit rows stored with the checkpoint (validated table)."""
    return load_visit_table(Path(folder) / HELD_OUT_VISITS)


def predict_timeline(model: LongitudinalModel, visits: pd.DataFrame) -> pd.DataFrame:
    """Risk after each visit, using only that visit and the earlier ones (no look-ahead).

    Parameters
    ----------
    model : LongitudinalModel
        a loaded :class:`LongitudinalModel`.
    visits : pd.DataFrame
        a visit table (raw or already validated; one or several patients).

    Returns
    -------
    pd.DataFrame
        One row per visit, in time order per patient, columns: ``Patient``, ``Timepoint``,
        ``visit_index``, ``week`` (int, weeks since the patient's first visit), ``rating``
        (RANO or NaN), ``os_log_hr`` / ``ttp_log_hr`` (float, log hazard ratio for death /
        progression after this visit relative to an average training visit), ``os_hr`` /
        ``ttp_hr`` (their exponentials), ``progressed`` (bool: this or an earlier visit was
        rated PD, so ``ttp`` no longer applies).

    Raises
    ------
    VisitTableError
        the table is not valid (see :func:`validate_visits`).
    """
    v = validate_visits(visits)
    pats, risk, lengths, _ = model.risks(v)
    outs = model.net.config.outputs
    rows = []
    for b, p in enumerate(pats):
        rv = v[v["Patient"] == p]
        r = risk[b, : int(lengths[b])]
        pd_seen = rv["rating_clean"].map(lambda s: isinstance(s, str) and "PD" in s).cummax()
        frame = pd.DataFrame({
            "Patient": p, "Timepoint": rv["Timepoint"].to_numpy(),
            "visit_index": rv["visit_index"].to_numpy(),
            "week": rv["weeks_from_first_visit"].to_numpy(),
            "rating": rv["rating_clean"].to_numpy(dtype=object),
        })
        for j, o in enumerate(outs):
            frame[f"{o}_log_hr"] = r[:, j]
            frame[f"{o}_hr"] = np.exp(r[:, j])
        frame["progressed"] = pd_seen.to_numpy(dtype=bool)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- outcome
def observed_outcome(visits: pd.DataFrame) -> dict:
    """Observed outcome of one patient's visit rows, when the table carries it (never a model input).

    Returns
    -------
    dict
        ``{"death_week": float | None, "first_pd_week": int | None}`` in weeks since the first
        visit; ``death_week`` from the ``Survival`` column (LUMIERE weeks) when present.
    """
    v = validate_visits(visits)
    out = {"death_week": None, "first_pd_week": None}
    if "Survival" in v.columns:
        s = pd.to_numeric(v["Survival"], errors="coerce").dropna()
        if len(s):
            out["death_week"] = float(s.iloc[0] - v["week_int"].min())
    pd_rows = v[v["rating_clean"].map(lambda r: isinstance(r, str) and "PD" in r)]
    if len(pd_rows):
        out["first_pd_week"] = int(pd_rows["weeks_from_first_visit"].min())
    return out
