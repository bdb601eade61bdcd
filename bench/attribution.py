"""Benchmark 2: attribution seconds per method on the demo study.

Measures every method :data:`model.inference.classify.ATTRIBUTION_METHODS` lists when it runs, through
``Predictor.attribution``, two ways:

* **app path**: the study already prepared and its predicted class known (what the Prediction
  page pays once a prediction is on screen; ``model.cached`` passes both);
* **cold**: ``Predictor.attribution(study, method)`` alone (prepares, runs a forward for the
  target, attributes, maps back to the voxel grids).

Goals on the CPU: IntegratedGradients <= 10 s, the others <= 3 s.
"""

from __future__ import annotations

from bench.common import median, say, table, timed

GOALS = {"IntegratedGradients": 10.0}
DEFAULT_GOAL = 3.0


def run(predictor=None, study=None, repeats: int = 3) -> dict:
    from model.inference.classify import ATTRIBUTION_METHODS, Predictor
    from model.imaging.study import Study

    predictor = predictor or Predictor()
    study = study or Study.demo()
    prep = predictor.prepare(study)
    pred = predictor.predict(study, prepared=prep)
    target = predictor.classes.index(pred.predicted_class)
    predictor.attribution(study, "Saliency", target=target, prepared=prep)  # warm-up
    rows, app, cold = [], {}, {}
    for method in ATTRIBUTION_METHODS:
        n = 1 if method == "IntegratedGradients" else repeats
        t_app, _ = timed(lambda: predictor.attribution(study, method, target=target, prepared=prep),
                         n, 0)
        t_cold, _ = timed(lambda: predictor.attribution(study, method), 1, 0)
        app[method], cold[method] = median(t_app), median(t_cold)
        goal = GOALS.get(method, DEFAULT_GOAL)
        rows.append((method, app[method], cold[method], f"{goal:.0f} s",
                     "ok" if app[method] <= goal else "MISSED", len(t_app)))
    table("2. attribution per method (demo study)", rows,
          ("method", "app path", "cold", "goal", "", "n"))
    say(f"methods: {', '.join(ATTRIBUTION_METHODS)}")
    return {"attribution_seconds": app, "attribution_seconds_cold": cold}
