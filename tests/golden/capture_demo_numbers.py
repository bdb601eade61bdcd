"""Capture the numbers the app shows on the demo study: run once on the commit before the
issue-12 restructuring (5a40224) to write demo_numbers.json; tests/test_golden_demo.py pins them."""
import json, sys
import numpy as np
sys.path.insert(0, ".")
from model.imaging.study import Study
from model.inference.classify import Predictor
from model.survival import km as sv
from model.survival.cohorts import load_tcga_cdr
from model.survival.prognosis import image_prognosis_summary
from model.core.config import DEFAULT_CHECKPOINT
import torch
torch.set_num_threads(1)
s = Study.demo()
p = Predictor(device="cpu").predict(s)
out = {"prediction": {"probabilities": p.probabilities, "predicted_class": p.predicted_class,
       "risk_score": p.risk_score, "risk_percentile": p.risk_percentile, "risk_group": p.risk_group,
       "sequence_weights": p.sequence_weights}}
cdr = load_tcga_cdr(endpoint="OS")
km = {}
for col in ("grade", "cancer_type", "sex"):
    if col in cdr.columns:
        d = cdr.dropna(subset=[col])
        med = sv.median_survival(d, col)
        lr = sv.logrank(d, col)
        km[col] = {"median": json.loads(med.to_json()), "logrank_p": float(lr.p_value)}
out["km_tcga_os"] = km
summ = image_prognosis_summary(p.risk_score, DEFAULT_CHECKPOINT)
summ = summ.to_dict() if summ is not None else None
if summ:
    ind = summ["individual"]
    out["report_survival"] = {"percentile": summ["percentile"], "group": summ["group"],
        "individual": None if ind is None else {k: v for k, v in vars(ind).items() if isinstance(v, (int, float, str, dict))}}
    if ind is not None:
        out["report_survival"]["individual"]["at_horizons"] = {str(k): [float(x) for x in v] if hasattr(v, "__len__") else float(v) for k, v in getattr(ind, "at_horizons", {}).items()} if hasattr(ind, "at_horizons") else None
        out["report_survival"]["individual"]["horizons"] = json.loads(ind.horizons.to_json()) if hasattr(ind.horizons, "to_json") else ind.horizons
print(json.dumps(out, indent=1, default=float))
