"""One loader per survival cohort, each returning THE cohort schema
(:mod:`model.survival.cohorts.schema`).

Every loader reads a small CSV committed in ``data/cohorts/`` (copied from ``shared/data``;
origin, licence and citation in ``data/cohorts/ATTRIBUTION.md``) and converts units explicitly.
No Streamlit, torch or Plotly here.

Unit conversions (explicit, in one place each)
----------------------------------------------
* months -> days: x :data:`model.core.units.DAYS_PER_MONTH` = 30.4375 (= 365.25 / 12), ISLP
  ``time``;
* weeks  -> days: x :data:`model.core.units.DAYS_PER_WEEK` = 7, LUMIERE ``survival_weeks``;
* BraTS ``Survival`` text: a number is days to death (event 1; the BraTS survival tables have
  no event column and list deaths), ``"ALIVE (N days later)"`` is censored at N days (event 0),
  see :func:`parse_brats_survival`.
* TCGA-CDR, UCSF-PDGM, BraTS: already days.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from model.core.config import COHORT_DIR
from model.core.units import DAYS_PER_MONTH, DAYS_PER_WEEK
from model.survival.cohorts.schema import finish_cohort as _finish
from model.survival.cohorts.tcga import join_image_covariates, load_cohort_risk, load_tcga_cdr

__all__ = [
    "months_to_days",
    "weeks_to_days",
    "parse_brats_survival",
    "age_group",
    "load_tcga_clinical",
    "load_ucsf_pdgm",
    "load_brats19",
    "load_brats20",
    "load_islp_braincancer",
    "load_lumiere",
    "load_image_cohort",
]


def months_to_days(months: pd.Series | np.ndarray | float) -> pd.Series | np.ndarray | float:
    """Months -> days, x :data:`model.core.units.DAYS_PER_MONTH` (30.4375 = 365.25 / 12).

    Parameters
    ----------
    months : float, numpy.ndarray or pandas.Series
        Times in months; NaN stays NaN; no rounding.

    Returns
    -------
    Same type as ``months``, in days (float).
    """
    return months * DAYS_PER_MONTH


def weeks_to_days(weeks: pd.Series | np.ndarray | float) -> pd.Series | np.ndarray | float:
    """Weeks -> days, x :data:`model.core.units.DAYS_PER_WEEK` (7).

    Parameters
    ----------
    weeks : float, numpy.ndarray or pandas.Series
        Times in weeks; NaN stays NaN.

    Returns
    -------
    Same type as ``weeks``, in days (float).
    """
    return weeks * DAYS_PER_WEEK


_ALIVE_RE = re.compile(r"^\s*alive\s*\(\s*(\d+(?:\.\d+)?)\s*days?\s*later\s*\)\s*$", re.IGNORECASE)


def parse_brats_survival(value: object) -> tuple[float, float]:
    """One BraTS ``Survival`` / ``Survival_days`` cell -> ``(time_days, event)``.

    * a number (int, float or numeric text such as ``"616"``): days to death -> ``(616.0, 1.0)``
      (the BraTS survival tables list overall survival of deceased patients and have no event
      column);
    * ``"ALIVE (N days later)"`` (any case / spacing): alive at the last contact N days after
      diagnosis -> ``(N, 0.0)``, a censored observation, not an error;
    * NaN / empty: no survival recorded -> ``(nan, nan)`` (the loader drops the row).

    Parameters
    ----------
    value : object
        The cell as read (number, text or NaN).

    Returns
    -------
    (float, float)
        ``(time_days, event)``; event 1.0 = death, 0.0 = censored.

    Raises
    ------
    ValueError
        Any other text, or a negative number of days.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan"), float("nan")
    if isinstance(value, (int, float, np.integer, np.floating)):
        days, event = float(value), 1.0
    else:
        text = str(value).strip()
        if text == "":
            return float("nan"), float("nan")
        m = _ALIVE_RE.match(text)
        if m:
            days, event = float(m.group(1)), 0.0
        else:
            try:
                days, event = float(text), 1.0
            except ValueError:
                raise ValueError(
                    f"Unrecognised BraTS survival value {value!r}: expected days (a number) or "
                    "'ALIVE (N days later)'."
                ) from None
    if days < 0:
        raise ValueError(f"Negative BraTS survival {value!r} (days).")
    return days, event


def age_group(age_years: pd.Series) -> pd.Series:
    """Age in years -> age group.

    Parameters
    ----------
    age_years : pandas.Series
        Ages (numeric or numeric text), years.

    Returns
    -------
    pandas.Series of object
        ``"< 40"``, ``"40-59"`` or ``">= 60"``; NaN where the age is missing.
    """
    a = pd.to_numeric(age_years, errors="coerce")
    out = pd.Series(np.where(a < 40, "< 40", np.where(a < 60, "40-59", ">= 60")), index=a.index, dtype=object)
    return out.where(a.notna())


def _path(path: str | Path | None, default: str) -> Path:
    p = Path(path) if path is not None else COHORT_DIR / default
    if not p.is_file():
        raise FileNotFoundError(
            f"Cohort table not found at {p}. The committed copy normally lives in data/cohorts/ "
            "(see data/cohorts/ATTRIBUTION.md)."
        )
    return p


def _lower(s: pd.Series, allowed: set[str] | None = None, mapping: dict[str, str] | None = None) -> pd.Series:
    def f(v: object) -> object:
        if not isinstance(v, str) or v.strip() == "":
            return np.nan
        t = v.strip().lower()
        if mapping is not None:
            return mapping.get(t, np.nan)
        return t if (allowed is None or t in allowed) else np.nan

    return s.map(f).astype(object)


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------
def load_tcga_clinical(endpoint: str = "OS", path: str | Path | None = None, **_: object) -> pd.DataFrame:
    """TCGA-CDR LGG + GBM (Liu et al. 2018) in the cohort schema.

    Wraps :func:`model.survival.cohorts.tcga.load_tcga_cdr` (days already) and adds
    ``cohort = "tcga"`` and ``age_group``. Covariates: ``cancer_type``, ``grade`` (GBM = WHO IV),
    ``histology``, ``age_years`` (at diagnosis), ``age_group``, ``sex``. OS: 1067 patients, 594
    deaths.

    Parameters
    ----------
    endpoint : {"OS", "PFI"}
    path : str or Path, optional
        The CDR CSV; default the committed copy.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    ValueError, FileNotFoundError
        As ``load_tcga_cdr``.
    """
    df = load_tcga_cdr(path, endpoint=endpoint)
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "tcga", "TCGA-CDR")


def load_ucsf_pdgm(path: str | Path | None = None, **_: object) -> pd.DataFrame:
    """UCSF-PDGM clinical table (Calabrese et al. 2022) in the cohort schema.

    Source columns -> schema: ``ID`` -> patient_id; ``OS`` (days) -> time_days; ``1-dead
    0-alive`` -> event; ``WHO CNS Grade`` 2/3/4 -> ``grade`` "WHO II/III/IV"; ``Final pathologic
    diagnosis (WHO 2021)`` -> ``diagnosis``; ``IDH`` "wildtype" -> "wildtype", any named
    mutation / "mutated (NOS)" -> "mutant"; ``MGMT status`` positive -> "methylated", negative ->
    "unmethylated", indeterminate / empty -> NaN; ``1p/19q`` intact / co-deletion (any case) ->
    "intact" / "co-deleted", "relative co-deletion" kept; ``EOR`` GTR / STR / biopsy ->
    ``resection``; ``Age at MRI`` (years) -> ``age_years``; ``Sex`` M/F -> male/female.
    The one row without OS is dropped: 400 patients, 191 deaths.

    Parameters
    ----------
    path : str or Path, optional
        The CSV; default the committed copy in ``data/cohorts/``.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    FileNotFoundError
        The CSV is missing.
    ValueError
        Non-0/1 events or negative times.
    """
    p = _path(path, "ucsf_pdgm_metadata_v2.csv")
    raw = pd.read_csv(p, dtype={"ID": str})
    idh = raw["IDH"].map(
        lambda v: np.nan if not isinstance(v, str) or not v.strip()
        else ("wildtype" if v.strip().lower() == "wildtype" else "mutant")
    )
    codel = _lower(
        raw["1p/19q"],
        mapping={"intact": "intact", "co-deletion": "co-deleted", "relative co-deletion": "relative co-deletion"},
    )
    grade = pd.to_numeric(raw["WHO CNS Grade"], errors="coerce").map({2: "WHO II", 3: "WHO III", 4: "WHO IV"})
    df = pd.DataFrame(
        {
            "patient_id": raw["ID"].str.strip(),
            "time_days": pd.to_numeric(raw["OS"], errors="coerce"),  # days
            "event": pd.to_numeric(raw["1-dead 0-alive"], errors="coerce"),
            "grade": grade.astype(object),
            "diagnosis": raw["Final pathologic diagnosis (WHO 2021)"].astype(object),
            "idh": idh.astype(object),
            "mgmt": _lower(raw["MGMT status"], mapping={"positive": "methylated", "negative": "unmethylated"}),
            "codeletion_1p19q": codel,
            "resection": raw["EOR"].map(
                lambda v: {"gtr": "GTR", "str": "STR", "biopsy": "biopsy"}.get(str(v).strip().lower(), np.nan)
                if isinstance(v, str) else np.nan
            ).astype(object),
            "age_years": pd.to_numeric(raw["Age at MRI"], errors="coerce"),
            "sex": _lower(raw["Sex"], mapping={"m": "male", "f": "female", "male": "male", "female": "female"}),
        }
    )
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "ucsf_pdgm", p.name)


def _brats_frame(p: Path, id_col: str, survival_col: str, resection_col: str) -> pd.DataFrame:
    """BraTS survival CSV (2019 or 2020 layout) -> patient_id, time_days, event, age_years,
    resection (GTR / STR, NaN otherwise); survival parsed by :func:`parse_brats_survival`."""
    raw = pd.read_csv(p, dtype={id_col: str, survival_col: object})
    parsed = raw[survival_col].map(parse_brats_survival)
    return pd.DataFrame({
        "patient_id": raw[id_col].str.strip(),
        "time_days": parsed.map(lambda t: t[0]).astype(float),
        "event": parsed.map(lambda t: t[1]).astype(float),
        "age_years": pd.to_numeric(raw["Age"], errors="coerce"),
        "resection": raw[resection_col].map(
            lambda v: {"gtr": "GTR", "str": "STR"}.get(str(v).strip().lower(), np.nan)
            if isinstance(v, str) else np.nan).astype(object),
    })


def load_brats19(
    path: str | Path | None = None, mapping_path: str | Path | None = None, **_: object
) -> pd.DataFrame:
    """BraTS 2019 survival table in the cohort schema.

    ``Survival`` is text: a number = days to death (event 1), ``"ALIVE (N days later)"`` =
    censored at N days (event 0), see :func:`parse_brats_survival`. Rows with no survival value
    (38 of 207) are dropped: 169 patients, 168 deaths, 1 censored. ``Age`` (years) ->
    ``age_years``; ``ResectionStatus`` GTR / STR -> ``resection`` (NaN when not given);
    ``brats_grade`` HGG / LGG from ``name_mapping.csv`` (all survival patients are HGG).

    Parameters
    ----------
    path : str or Path, optional
        The survival CSV; default the committed copy in ``data/cohorts/``.
    mapping_path : str or Path, optional
        ``name_mapping.csv`` (grades); missing -> ``brats_grade`` NaN.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    FileNotFoundError
        The survival CSV is missing.
    ValueError
        An unrecognised survival text.
    """
    p = _path(path, "brats19_survival_data.csv")
    df = _brats_frame(p, "BraTS19ID", "Survival", "ResectionStatus")
    try:
        mp = pd.read_csv(_path(mapping_path, "brats19_name_mapping.csv"), dtype=str)
        grade = dict(zip(mp["BraTS_2019_subject_ID"].str.strip(), mp["Grade"].str.strip()))
        df["brats_grade"] = df["patient_id"].map(grade).astype(object)
    except FileNotFoundError:
        df["brats_grade"] = np.nan
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "brats19", p.name)


def load_brats20(path: str | Path | None = None, **_: object) -> pd.DataFrame:
    """BraTS 2020 ``survival_info.csv`` in the cohort schema.

    ``Survival_days`` is parsed with :func:`parse_brats_survival` (numbers = days to death,
    "ALIVE (N days later)" = censored at N; this copy has numbers only): 194 patients, all
    deaths. ``Age`` (years) -> ``age_years``; ``Extent_of_Resection`` GTR / STR -> ``resection``
    ("NA" = not available -> NaN).

    Parameters
    ----------
    path : str or Path, optional
        The CSV; default the committed copy in ``data/cohorts/``.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    FileNotFoundError
        The CSV is missing.
    ValueError
        An unrecognised survival text.
    """
    p = _path(path, "brats20_survival_info.csv")
    df = _brats_frame(p, "Brats20ID", "Survival_days", "Extent_of_Resection")
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "brats20", p.name)


def load_islp_braincancer(path: str | Path | None = None, **_: object) -> pd.DataFrame:
    """ISLP ``BrainCancer`` (Selingerová et al. 2016) in the cohort schema.

    ``time`` is in **months** -> ``time_days = time x 30.4375`` (:func:`months_to_days`);
    ``status`` 1 = dead -> event. ``ki`` -> ``karnofsky`` (points) and ``karnofsky_group``
    (< 80 / >= 80); ``gtv`` -> ``tumor_volume_cm3`` (cm³); ``diagnosis`` as given (Meningioma,
    LG glioma, HG glioma, Other; one missing); ``loc`` -> ``location``; ``stereo`` ->
    ``stereotactic``; ``sex``. No age. The source has no patient id: ``ISLP-001``... in file
    order. 71 patients, 29 deaths.

    Parameters
    ----------
    path : str or Path, optional
        The CSV; default the committed copy in ``data/cohorts/``.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    FileNotFoundError
        The CSV is missing.
    ValueError
        Non-0/1 status or negative times.
    """
    p = _path(path, "islp_braincancer.csv")
    raw = pd.read_csv(p)
    ki = pd.to_numeric(raw["ki"], errors="coerce")
    df = pd.DataFrame(
        {
            "patient_id": [f"ISLP-{i + 1:03d}" for i in range(len(raw))],
            "time_days": months_to_days(pd.to_numeric(raw["time"], errors="coerce")),
            "event": pd.to_numeric(raw["status"], errors="coerce"),
            "diagnosis": raw["diagnosis"].astype(object),
            "karnofsky": ki,
            "karnofsky_group": pd.Series(np.where(ki >= 80, "KPS >= 80", "KPS < 80"), dtype=object).where(ki.notna()),
            "tumor_volume_cm3": pd.to_numeric(raw["gtv"], errors="coerce"),
            "location": raw["loc"].astype(object),
            "stereotactic": raw["stereo"].astype(object),
            "sex": _lower(raw["sex"], {"female", "male"}),
        }
    )
    return _finish(df, "islp", p.name)


def load_lumiere(path: str | Path | None = None, **_: object) -> pd.DataFrame:
    """LUMIERE per-patient table (Suter et al. 2022; glioblastoma) in the cohort schema.

    ``survival_weeks`` is in **weeks** -> ``time_days = weeks x 7`` (:func:`weeks_to_days`);
    ``os_event`` -> event (the source codes every patient with a known survival as dead; the 4
    without survival are dropped: 68 patients, 68 deaths). ``age_at_surgery_years`` ->
    ``age_years``; ``Sex``; ``IDH`` WT/wt -> "wildtype", "R132H mut" -> "mutant", "IDH1 neg,
    Sequencing required" (immunohistochemistry negative, not sequenced) and "na" -> NaN;
    ``MGMT`` "methylated" / "not methylated" -> "methylated" / "unmethylated", "na" -> NaN;
    ``any_pd`` -> ``any_progression`` "yes"/"no"; ``n_visits``. ``diagnosis`` = "Glioblastoma".

    Parameters
    ----------
    path : str or Path, optional
        The CSV; default the committed copy in ``data/cohorts/``.

    Returns
    -------
    pandas.DataFrame
        The cohort schema.

    Raises
    ------
    FileNotFoundError
        The CSV is missing.
    ValueError
        Non-0/1 events or negative times.
    """
    p = _path(path, "lumiere_patients.csv")
    raw = pd.read_csv(p, dtype={"Patient": str})
    idh = raw["IDH"].map(
        lambda v: {"wt": "wildtype", "r132h mut": "mutant"}.get(str(v).strip().lower(), np.nan)
        if isinstance(v, str) else np.nan
    )
    any_pd = pd.to_numeric(raw["any_pd"], errors="coerce")
    df = pd.DataFrame(
        {
            "patient_id": raw["Patient"].str.strip(),
            "time_days": weeks_to_days(pd.to_numeric(raw["survival_weeks"], errors="coerce")),
            "event": pd.to_numeric(raw["os_event"], errors="coerce"),
            "diagnosis": "Glioblastoma",
            "idh": idh.astype(object),
            "mgmt": _lower(raw["MGMT"], mapping={"methylated": "methylated", "not methylated": "unmethylated"}),
            "any_progression": pd.Series(np.where(any_pd == 1, "yes", "no"), dtype=object).where(any_pd.notna()),
            "n_visits": pd.to_numeric(raw["n_visits"], errors="coerce"),
            "age_years": pd.to_numeric(raw["age_at_surgery_years"], errors="coerce"),
            "sex": _lower(raw["Sex"], {"female", "male"}),
        }
    )
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "lumiere", p.name)


def load_image_cohort(
    checkpoint_dir: str | Path | None = None, cdr: pd.DataFrame | None = None, **_: object
) -> pd.DataFrame | None:
    """The image model's TCGA-LGG patients with their predicted risk, in the cohort schema.

    ``cohort_risk.csv`` of ``checkpoint_dir`` (:func:`~model.survival.cohorts.tcga.load_cohort_risk`:
    OS days, event, ``risk_score``, ``split``, ``risk_group`` by :mod:`model.survival.risk`)
    joined to TCGA-CDR covariates by :func:`~model.survival.cohorts.tcga.join_image_covariates`
    (``age_years``, ``sex``, ``grade``, ``histology``). Adds ``age_group``.

    Parameters
    ----------
    checkpoint_dir : str or Path, optional
        Checkpoint folder holding ``cohort_risk.csv``.
    cdr : pandas.DataFrame, optional
        TCGA-CDR frame; default ``load_tcga_cdr(endpoint="OS")`` (covariates NaN when the
        table is missing).

    Returns
    -------
    pandas.DataFrame or None
        The cohort schema; None when ``checkpoint_dir`` is None or has no ``cohort_risk.csv``
        (e.g. while the model is being retrained).

    Raises
    ------
    ValueError
        A malformed ``cohort_risk.csv``.
    """
    risk = load_cohort_risk(checkpoint_dir)
    if risk is None:
        return None
    if cdr is None:
        try:
            cdr = load_tcga_cdr(endpoint="OS")
        except FileNotFoundError:
            cdr = None
    df = join_image_covariates(risk, cdr)
    df["age_group"] = age_group(df["age_years"])
    return _finish(df, "tcga_image", "cohort_risk.csv")
