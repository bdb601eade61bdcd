"""Cox proportional hazards: :class:`CoxModel`, a fitter in lifelines' manner, and its tables.

``CoxModel(inputs, ...).fit(df)`` encodes the cohort's covariates (z-score, per-k-units or
indicator coding), fits lifelines' :class:`~lifelines.CoxPHFitter` (Efron ties, Breslow
baseline) and returns itself; fitted attributes end in ``_`` (``encoding_``, ``cph_``,
``data_``, ``penalizer_``, ...). :func:`efron_fit` and :func:`breslow_survival` are the same
estimator in numpy, fast enough for a few hundred bootstrap refits
(:func:`model.survival.prognosis.individual_survival`).

Warnings: lifelines' :class:`~lifelines.exceptions.ConvergenceWarning` is caught by type and
kept in ``convergence_warnings_``; when the unpenalised fit fails and the ridge fallback is used,
a :class:`model.core.warnings.ConvergenceFallbackWarning` says so. Other warnings pass through.
No Streamlit, torch or Plotly here. Times are in days.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning

from model.core.warnings import ConvergenceFallbackWarning
from model.survival.concordance import harrell_c
from model.survival.km import clean_survival

__all__ = [
    "DEFAULT_SCALES",
    "FALLBACK_PENALIZER",
    "CoxModel",
    "HazardRatios",
    "fit_cph",
    "hazard_ratio_table",
    "cox_hazard_ratios",
    "term_name",
    "efron_fit",
    "breslow_survival",
]

#: numeric covariate -> (divisor, label): the HR is reported per this many units.
DEFAULT_SCALES = {"age_years": (10.0, "per 10 years"), "karnofsky": (10.0, "per 10 points"),
                  "tumor_volume_cm3": (10.0, "per 10 cm³")}
#: ridge penalty of the one retry when the unpenalised fit does not converge.
FALLBACK_PENALIZER = 0.1


def fit_cph(data: pd.DataFrame, penalizer: float, alpha: float = 0.05,
            caught: list[str] | None = None) -> CoxPHFitter:
    """Fit lifelines' ``CoxPHFitter`` on a design frame, catching its ConvergenceWarning by type.

    Parameters
    ----------
    data : pandas.DataFrame
        Numeric design columns plus ``time_days`` (days) and ``event`` (0/1).
    penalizer : float
        Ridge penalty (lifelines' ``penalizer``).
    alpha : float
        Level of the Wald CIs.
    caught : list of str, optional
        Messages of the ConvergenceWarnings lifelines raised are appended here (else dropped).
        Every other warning is re-issued unchanged.

    Returns
    -------
    lifelines.CoxPHFitter
        Fitted.

    Raises
    ------
    lifelines.exceptions.ConvergenceError, numpy.linalg.LinAlgError, ValueError
        As lifelines raises them.
    """
    caught = caught if caught is not None else []
    others: list = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            cph = CoxPHFitter(penalizer=penalizer, alpha=alpha).fit(
                data, duration_col="time_days", event_col="event"
            )
        finally:
            for w in rec:
                if issubclass(w.category, ConvergenceWarning):
                    caught.append(str(w.message))
                else:
                    others.append(w)
    for w in others:  # outside the catch_warnings block: the caller's filters apply
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return cph


def _encode(frame: pd.DataFrame, encoding: dict, strict: bool) -> pd.DataFrame:
    cols = {}
    for name, enc in encoding.items():
        if name not in frame.columns:
            raise ValueError(f"Missing covariate {name!r}.")
        v = frame[name]
        if enc[0] in ("z", "scale"):
            x = pd.to_numeric(v, errors="coerce").astype(float)
            if strict and x.isna().any():
                raise ValueError(f"Covariate {name!r} is missing (NaN).")
            cols[term_name(name, enc)] = (x - enc[1]) / enc[2] if enc[0] == "z" else x / enc[1]
        else:
            ref, levels = enc[1], enc[2]
            s = v.astype(object)
            if strict:
                bad = sorted({str(x) for x in s.dropna()} - set(levels) - {ref})
                if s.isna().any() or bad:
                    raise ValueError(
                        f"Covariate {name!r} must be one of {[ref, *levels]}; got {bad or 'missing'}."
                    )
            for lv in levels:
                cols[f"{name}={lv}"] = (s.astype(str) == lv).astype(float).where(s.notna())
    return pd.DataFrame(cols, index=frame.index)


def term_name(name: str, enc: tuple) -> str:
    """Design column name of a numeric input.

    Parameters
    ----------
    name : str
        Input name.
    enc : tuple
        Its encoding (``CoxModel.encoding_[name]``), ``("z", ...)`` or ``("scale", ...)``.

    Returns
    -------
    str
        ``"risk_score (per SD)"``, ``"age_years (per 10 years)"``, or the bare name.
    """
    return f"{name} (per SD)" if enc[0] == "z" else (f"{name} ({enc[2]})" if enc[2] else name)


class CoxModel:
    """Cox proportional-hazards model on cohort rows, in lifelines' manner.

    ``CoxModel(inputs, ...).fit(df)`` returns the fitted model; attributes learnt from the data
    end in ``_``.

    Parameters
    ----------
    inputs : sequence of str
        Covariate columns of the cohort frame, in order. Categorical inputs (object dtype)
        become indicators vs a reference level; numeric ones enter linearly.
    references : dict, optional
        Reference level per categorical input; default the sorted-first level (e.g.
        ``female``, ``WHO II``; ``high`` < ``low`` -> pass ``{"risk_group": "low"}``).
    scales : dict, optional
        Numeric input -> (divisor, label); merged over :data:`DEFAULT_SCALES`.
    standardize : sequence of str
        Numeric inputs entered as z-scores of the fitting rows (HR per SD), e.g. the image
        risk score whose raw spread is arbitrary.
    penalizer : float
        Ridge penalty. When the fit fails to converge (e.g. a level without events) it is
        retried once with :data:`FALLBACK_PENALIZER` and a ConvergenceFallbackWarning is issued.
    min_events : int
        Fewer events than this -> ValueError at fit time.

    Attributes
    ----------
    inputs_ : list of str
        Inputs used (in order; constant ones are left out, see ``dropped_``).
    encoding_ : dict
        Input -> ``("z", mean, sd)`` (standardised, HR per SD), ``("scale", divisor, label)``
        (HR per ``divisor`` units) or ``("dummies", reference, [levels])`` (indicator per
        non-reference level, HR vs ``reference``).
    cph_ : lifelines.CoxPHFitter
        The fitted lifelines model (Efron ties, Breslow baseline, Wald CIs).
    data_ : pandas.DataFrame
        Design matrix of the fitting rows plus ``time_days`` (days) and ``event``.
    penalizer_ : float
        Ridge penalty used (the requested one unless the fallback was needed).
    n_, events_ : int
        Fitting rows and events.
    dropped_ : list of str
        Inputs left out because they were constant in the fitting rows.
    n_missing_ : int
        Rows dropped for a missing input.
    convergence_warnings_ : list of str
        lifelines ConvergenceWarning messages of the fit that was kept (and of the failed one).
    """

    def __init__(self, inputs: Sequence[str], references: dict[str, str] | None = None,
                 scales: dict[str, tuple[float, str]] | None = None,
                 standardize: Sequence[str] = ("risk_score",), penalizer: float = 0.0,
                 min_events: int = 3) -> None:
        self.inputs = list(dict.fromkeys(inputs))
        self.references = dict(references or {})
        self.scales = {**DEFAULT_SCALES, **(scales or {})}
        self.standardize = tuple(standardize)
        self.penalizer = float(penalizer)
        self.min_events = int(min_events)

    def __repr__(self) -> str:
        fitted = f", n_={self.n_}, events_={self.events_}" if hasattr(self, "cph_") else ""
        return f"CoxModel(inputs={self.inputs!r}, penalizer={self.penalizer}{fitted})"

    # ---------------------------------------------------------------------------- fitting
    def fit(self, df: pd.DataFrame) -> "CoxModel":
        """Fit on cohort rows.

        Parameters
        ----------
        df : pandas.DataFrame
            ``time_days`` (float, days), ``event`` (0/1) and the ``inputs`` columns. Rows with
            a missing input are dropped (``n_missing_``).

        Returns
        -------
        CoxModel
            ``self``, fitted.

        Raises
        ------
        ValueError
            No usable input, too few rows / events, or the fit failed even with the penalty.

        Warns
        -----
        model.core.warnings.ConvergenceFallbackWarning
            The unpenalised fit failed and the ridge fallback was used.
        """
        inputs = self.inputs
        data, _ = clean_survival(df, None)
        missing_cols = [c for c in inputs if c not in data.columns]
        if missing_cols:
            raise ValueError(f"Cohort has no column(s) {missing_cols}.")
        ok = data[inputs].notna().all(axis=1)
        n_missing = int((~ok).sum())
        data = data.loc[ok].reset_index(drop=True)
        encoding: dict = {}
        dropped: list[str] = []
        for name in inputs:
            v = data[name]
            numeric = v.dtype.kind in "fiu" and v.dtype != object
            if numeric:
                x = v.astype(float)
                if x.nunique() < 2:
                    dropped.append(name)
                    continue
                if name in self.standardize:
                    sd = float(x.std(ddof=1))
                    encoding[name] = ("z", float(x.mean()), sd if sd > 0 else 1.0)
                else:
                    div, label = self.scales.get(name, (1.0, ""))
                    encoding[name] = ("scale", float(div), label)
            else:
                levels = sorted({str(x) for x in v})
                if len(levels) < 2:
                    dropped.append(name)
                    continue
                ref = self.references.get(name, levels[0])
                if ref not in levels:
                    ref = levels[0]
                data[name] = v.astype(str)
                encoding[name] = ("dummies", ref, [lv for lv in levels if lv != ref])
        if not encoding:
            raise ValueError(f"No covariate with >= 2 distinct values among {inputs}.")
        n_events = int(data["event"].sum())
        if len(data) < 5 or n_events < self.min_events:
            raise ValueError(
                f"Too little data for a Cox model: {len(data)} patients, {n_events} events "
                f"(need >= 5 and >= {self.min_events})."
            )
        X = _encode(data, encoding, strict=False)
        fit_df = pd.concat([X, data[["time_days", "event"]]], axis=1)
        used_pen = self.penalizer
        caught: list[str] = []
        try:
            cph = fit_cph(fit_df, used_pen, caught=caught)
            params = cph.params_.to_numpy()
            if not np.all(np.isfinite(params)) or np.any(np.abs(params) > 15):
                raise ConvergenceError("diverging coefficients")
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as first:
            used_pen = max(self.penalizer, FALLBACK_PENALIZER)
            try:
                cph = fit_cph(fit_df, used_pen, caught=caught)
            except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
                raise ValueError(f"The Cox model could not be fitted: {exc}") from exc
            warnings.warn(
                f"Cox model on {list(encoding)} did not converge without a penalty "
                f"({type(first).__name__}: {first}); refitted with ridge penalizer {used_pen}.",
                ConvergenceFallbackWarning, stacklevel=2,
            )
        self.inputs_ = [n for n in inputs if n in encoding]
        self.encoding_ = encoding
        self.cph_ = cph
        self.data_ = fit_df
        self.penalizer_ = float(used_pen)
        self.n_ = int(len(fit_df))
        self.events_ = n_events
        self.dropped_ = dropped
        self.n_missing_ = n_missing
        self.convergence_warnings_ = caught
        return self

    # ---------------------------------------------------------------------------- fitted use
    def _check_fitted(self) -> None:
        if not hasattr(self, "cph_"):
            raise ValueError("This CoxModel is not fitted yet; call fit(df) first.")

    @property
    def terms_(self) -> list[str]:
        """Design column names, in the fitted order."""
        self._check_fitted()
        return [c for c in self.data_.columns if c not in ("time_days", "event")]

    @property
    def beta_(self) -> np.ndarray:
        """Fitted coefficients (lifelines ``params_``), float64 shape (p,), ``terms_`` order."""
        return self.cph_.params_.reindex(self.terms_).to_numpy(dtype=float)

    def design(self, frame: pd.DataFrame | dict) -> pd.DataFrame:
        """Encode rows (a frame or one dict of input values) into the design matrix.

        Parameters
        ----------
        frame : pandas.DataFrame or dict
            Input columns (``inputs_``); a dict is one row.

        Returns
        -------
        pandas.DataFrame
            Float design columns ``terms_``, one row per input row.

        Raises
        ------
        ValueError
            Not fitted; an input missing / NaN, or a categorical value the model has not seen
            (other than its reference).
        """
        self._check_fitted()
        if isinstance(frame, dict):
            frame = pd.DataFrame([frame])
        return _encode(frame, self.encoding_, strict=True)[self.terms_]

    def linear_predictor(self, frame: pd.DataFrame | dict) -> np.ndarray:
        """The linear predictor beta'x (not centred) per row.

        Parameters
        ----------
        frame : pandas.DataFrame or dict
            Rows of input values (a dict is one row).

        Returns
        -------
        numpy.ndarray of float64, shape (rows,)

        Raises
        ------
        ValueError
            As :meth:`design`.
        """
        X = self.design(frame)
        return X.to_numpy(dtype=float) @ self.beta_

    def survival_at(self, frame: pd.DataFrame | dict, times_days: Sequence[float]) -> np.ndarray:
        """Predicted S(t | x) with the Breslow step baseline of the fitting rows.

        Parameters
        ----------
        frame : pandas.DataFrame or dict
            Rows of input values.
        times_days : sequence of float, length k
            Times in days.

        Returns
        -------
        numpy.ndarray of float64, shape (rows, k)
            :func:`breslow_survival` with lifelines' coefficients.

        Raises
        ------
        ValueError
            As :meth:`design`.
        """
        X = self.design(frame).to_numpy(dtype=float)
        d = self.data_
        return breslow_survival(d[self.terms_].to_numpy(float), d["time_days"].to_numpy(float),
                                d["event"].to_numpy(int), self.beta_, X, np.asarray(times_days, float))

    def decoded_inputs(self) -> pd.DataFrame:
        """The fitting rows back as input values, so :meth:`linear_predictor` can re-encode them.

        Returns
        -------
        pandas.DataFrame
            One column per ``inputs_`` (numeric in their own units, categorical levels as str),
            ``n_`` rows.

        Raises
        ------
        ValueError
            The model is not fitted.
        """
        self._check_fitted()
        out = {}
        for name, enc in self.encoding_.items():
            if enc[0] == "z":
                out[name] = self.data_[term_name(name, enc)] * enc[2] + enc[1]
            elif enc[0] == "scale":
                out[name] = self.data_[term_name(name, enc)] * enc[1]
            else:
                lv = pd.Series(enc[1], index=self.data_.index, dtype=object)
                for level in enc[2]:
                    lv = lv.where(self.data_[f"{name}={level}"] != 1, level)
                out[name] = lv
        return pd.DataFrame(out)


@dataclass
class HazardRatios:
    """Result of :func:`cox_hazard_ratios`.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`hazard_ratio_table`.
    n, events, n_missing : int
        Fitting rows, events, rows dropped for a missing covariate.
    dropped : list of str
        Constant covariates left out.
    penalizer : float
        Ridge penalty used (0 unless the fallback was needed).
    concordance : float
        Harrell's C of the linear predictor on the fitting rows
        (:func:`model.survival.concordance.harrell_c`; equals lifelines' ``concordance_index_``).
    lr_p : float
        Likelihood-ratio test p of the whole model.
    method : str
    """

    table: pd.DataFrame
    n: int
    events: int
    n_missing: int
    penalizer: float
    concordance: float
    lr_p: float
    dropped: list[str] = field(default_factory=list)
    method: str = "Cox proportional hazards (lifelines CoxPHFitter), Efron ties, Wald 95% CI"


def hazard_ratio_table(model: CoxModel, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Hazard ratios of a fitted :class:`CoxModel`, one row per design term.

    Parameters
    ----------
    model : CoxModel
        Fitted.
    labels : dict, optional
        Input name -> display name.

    Returns
    -------
    pandas.DataFrame
        ``term`` (display text), ``covariate`` (input name), ``level`` (the level, or the
        scale text for numeric inputs), ``reference`` (reference level or ""), ``hr``,
        ``ci_lower``, ``ci_upper`` (Wald 95%, exp of lifelines' coef CI), ``p_value`` (Wald),
        ``n`` and ``events`` (patients / events in that level; whole model for numeric inputs).

    Raises
    ------
    ValueError
        The model is not fitted.
    """
    model._check_fitted()
    labels = labels or {}
    s = model.cph_.summary
    rows = []
    for name, enc in model.encoding_.items():
        lab = labels.get(name, name)
        if enc[0] == "dummies":
            for lv in enc[2]:
                term = f"{name}={lv}"
                mask = model.data_[term] == 1
                rows.append((f"{lab}: {lv} vs {enc[1]}", name, lv, enc[1], term,
                             int(mask.sum()), int(model.data_.loc[mask, "event"].sum())))
        else:
            term = term_name(name, enc)
            level = "per SD" if enc[0] == "z" else (enc[2] or "per unit")
            rows.append((f"{lab} ({level})", name, level, "", term, model.n_, model.events_))
    out = []
    for disp, name, level, ref, term, n, ev in rows:
        r = s.loc[term]
        out.append(
            {
                "term": disp, "covariate": name, "level": level, "reference": ref,
                "hr": float(r["exp(coef)"]),
                "ci_lower": float(r["exp(coef) lower 95%"]), "ci_upper": float(r["exp(coef) upper 95%"]),
                "p_value": float(r["p"]), "n": n, "events": ev,
            }
        )
    return pd.DataFrame(out)


def cox_hazard_ratios(
    df: pd.DataFrame,
    covariates: Sequence[str],
    references: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> HazardRatios:
    """Cox hazard ratios with 95% CIs of a cohort's covariates (for the forest plot).

    Parameters
    ----------
    df : pandas.DataFrame
        Cohort rows (``time_days`` days, ``event`` 0/1, the covariates).
    covariates : sequence of str
        Fitted jointly (the first is usually the stratification variable, the rest adjusters).
    references : dict, optional
        Reference level per categorical covariate.
    labels : dict, optional
        Display names.

    Returns
    -------
    HazardRatios

    Raises
    ------
    ValueError
        As :meth:`CoxModel.fit`.
    """
    model = CoxModel(covariates, references=references).fit(df)
    lr = model.cph_.log_likelihood_ratio_test()
    return HazardRatios(
        table=hazard_ratio_table(model, labels), n=model.n_, events=model.events_,
        n_missing=model.n_missing_, dropped=model.dropped_, penalizer=model.penalizer_,
        concordance=harrell_c(model.data_["time_days"].to_numpy(float), model.data_["event"].to_numpy(int),
                              model.linear_predictor(model.decoded_inputs())),
        lr_p=float(lr.p_value),
    )


# --------------------------------------------------------------------------------------------
# The same estimator in numpy (bootstrap refits)
# --------------------------------------------------------------------------------------------
def efron_fit(
    X: np.ndarray, t: np.ndarray, e: np.ndarray, penalizer: float = 0.0, max_iter: int = 50
) -> np.ndarray:
    """Cox coefficients by Newton-Raphson on the Efron partial likelihood (numpy).

    The same estimator as lifelines ``CoxPHFitter`` (Efron ties; its ridge penalty
    ``0.5 x penalizer x n x sum((beta_j sd_j)^2)``, i.e. lifelines' penalty on the standardised
    scale with the log-likelihood averaged over n) without lifelines' per-fit bookkeeping, so a
    bootstrap of a few hundred refits takes < 1 s. Checked against lifelines in
    ``tests/survival/test_cox.py``.

    Parameters
    ----------
    X : numpy.ndarray of float, shape (n, p)
        Design matrix.
    t : numpy.ndarray of float, shape (n,)
        Times (days).
    e : numpy.ndarray of int, shape (n,)
        1 = event, 0 = censored.
    penalizer : float
    max_iter : int

    Returns
    -------
    numpy.ndarray of float64, shape (p,)

    Raises
    ------
    numpy.linalg.LinAlgError, ValueError
        It does not converge (singular Hessian, no improvement, diverging coefficients).
    """
    X = np.asarray(X, float)
    t = np.asarray(t, float)
    e = np.asarray(e, int) == 1
    n, p = X.shape
    sd = X.std(axis=0, ddof=1) if n > 1 else np.ones(p)
    pen = penalizer * n * sd**2
    ev_times = np.unique(t[e])
    risk_sets = [t >= tk for tk in ev_times]
    death_sets = [(t == tk) & e for tk in ev_times]

    def terms(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = X @ beta
        shift = eta.max()
        w = np.exp(eta - shift)
        ll, g, H = 0.0, np.zeros(p), np.zeros((p, p))
        for R, D in zip(risk_sets, death_sets):
            d = int(D.sum())
            wR, XR = w[R], X[R]
            s0R, s1R, s2R = wR.sum(), wR @ XR, (XR * wR[:, None]).T @ XR
            wD, XD = w[D], X[D]
            s0D, s1D, s2D = wD.sum(), wD @ XD, (XD * wD[:, None]).T @ XD
            ll += eta[D].sum()
            g += XD.sum(axis=0)
            for k in range(d):
                f = k / d
                s0, s1, s2 = s0R - f * s0D, s1R - f * s1D, s2R - f * s2D
                ll -= np.log(s0) + shift
                g -= s1 / s0
                H -= s2 / s0 - np.outer(s1, s1) / s0**2
        ll -= 0.5 * float(np.sum(pen * beta**2))
        g -= pen * beta
        H -= np.diag(pen)
        return ll, g, H

    beta = np.zeros(p)
    ll, g, H = terms(beta)
    for _ in range(max_iter):
        delta = np.linalg.solve(-H, g)
        step = 1.0
        while True:
            cand = beta + step * delta
            ll_c, g_c, H_c = terms(cand)
            if np.isfinite(ll_c) and ll_c >= ll - 1e-12:
                break
            step /= 2
            if step < 1e-6:
                raise ValueError("Cox Newton-Raphson failed to improve the likelihood.")
        converged = np.max(np.abs(cand - beta)) < 1e-9 or abs(ll_c - ll) < 1e-12
        beta, ll, g, H = cand, ll_c, g_c, H_c
        if converged:
            break
    if not np.all(np.isfinite(beta)) or np.any(np.abs(beta * sd) > 30):
        raise ValueError("Cox coefficients diverge (separation).")
    return beta


def breslow_survival(
    X: np.ndarray, t: np.ndarray, e: np.ndarray, beta: np.ndarray, x_new: np.ndarray, grid: np.ndarray
) -> np.ndarray:
    """Cox survival with the Breslow baseline: S(grid | x_new) = exp(-H0(t) exp(beta'x_new)).

    H0 is the Breslow step function sum over event times t_k <= t of
    d_k / sum_{j: t_j >= t_k} exp(beta'x_j) (lifelines' baseline hazard, read as a step
    function instead of lifelines' linear interpolation between observed times).

    Parameters
    ----------
    X : numpy.ndarray of float, shape (n, p)
        Design of the fitting rows.
    t : numpy.ndarray of float, shape (n,)
        Their times (days).
    e : numpy.ndarray of int, shape (n,)
        Their events (1 / 0).
    beta : numpy.ndarray of float, shape (p,)
        Coefficients.
    x_new : numpy.ndarray of float, shape (p,) or (rows, p)
        Patients to predict.
    grid : numpy.ndarray of float, shape (k,)
        Times (days).

    Returns
    -------
    numpy.ndarray of float64
        Shape (k,) for one row ``x_new``, (rows, k) for a 2-D ``x_new``.
    """
    t = np.asarray(t, float)
    e = np.asarray(e, int) == 1
    r = np.exp(X @ beta)
    ev = np.unique(t[e])
    d = np.array([np.sum(e & (t == tk)) for tk in ev], float)
    at_risk = np.array([r[t >= tk].sum() for tk in ev])
    H = np.cumsum(d / at_risk)
    idx = np.searchsorted(ev, grid, side="right") - 1
    H_grid = np.where(idx >= 0, H[np.clip(idx, 0, None)], 0.0) if ev.size else np.zeros(len(grid))
    rel = np.exp(np.asarray(x_new, float) @ beta)
    return np.exp(-np.multiply.outer(rel, H_grid))
