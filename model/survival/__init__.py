"""Survival analysis: statistics only (no Streamlit, no Plotly; torch only lazily inside the
torchsurv metrics of :mod:`~model.survival.validation`). Import the room you need:

======================================= ===================================================
module                                  job
======================================= ===================================================
:mod:`model.survival.cohorts`           the cohort schema, one loader per cohort (TCGA-CDR,
                                        UCSF-PDGM, BraTS, ISLP, LUMIERE, the image cohort),
                                        the registry ``COHORTS``
:mod:`model.survival.km`                Kaplan-Meier curves, medians, at-risk table,
                                        log-rank (pairwise, adjusted p): ``km_analysis``
:mod:`model.survival.cox`               ``CoxModel`` (a lifelines-style fitter), hazard
                                        ratios, the numpy Efron refit
:mod:`model.survival.risk`              THE risk group / percentile convention
:mod:`model.survival.prognosis`         individual survival curve + band, the PDF's
                                        ``image_prognosis_summary``
:mod:`model.survival.concordance`       Harrell's C, defined once
:mod:`model.survival.validation`        Uno's C, time AUC, IPCW, calibration,
                                        ``validate_risk``
:mod:`model.survival.tables`            display tables of these results
:mod:`model.survival.clinical`          clinical-molecular prognosis
======================================= ===================================================

Figures of these results: :mod:`model.views.survival_figures`. All times are in days.
"""
