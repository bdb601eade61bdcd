"""The one Streamlit package of ``model/``: server-wide caches and every session key.

Pages hold widgets and layout; whatever they keep between reruns goes through the accessors
here, and only this module names session keys.

* **Server-wide resources** (``st.cache_resource`` / ``st.cache_data``): the classifier
  (:func:`get_predictor`), the demo study, the longitudinal model and its held-out visits.
  They are read-only and shared by every session.
* **The session's study** (:func:`current_study`, :func:`set_study`) and what is derived from
  it: the prepared model input, the prediction and the attribution maps, keyed by the study's
  content hash so they survive page switches and are released when another study is loaded.
* **Per-study page state** (:func:`per_study`): a page asks for a named slot (e.g. the viewer's
  crosshair and slice cache); every slot is dropped when another study is loaded, so this
  module never needs to know the pages' own names.
* **Widget memory** (:class:`WidgetMemory`, :func:`set_widget`, :func:`forget_widgets`):
  widget values kept across page switches and set from callbacks.
* **Uploads** (:func:`uploader_key`, :func:`cached_upload`, :func:`flash`...): the Study page's
  uploader generation, the files it has read and the one-shot message after a load.

:func:`configure_torch_threads` sets torch's intra-op threads once per server (see there).

The package: ``resources`` (server-wide caches), ``session`` (the session's study and every
session key), ``analysis`` (the study analysis of the Prediction page and the PDF), ``survival``
and ``clinical`` (the Survival page's caches). Import the names from ``model.cached``; only
``session`` names session keys.
"""

from model.cached.resources import (  # noqa: F401
    configure_torch_threads,
    get_demo_study,
    get_held_out_visits,
    get_longitudinal_model,
    get_predictor,
    get_timeline,
)
from model.cached.session import (  # noqa: F401
    MAPS,
    PREDICTION,
    PREPARED,
    STUDY,
    WidgetMemory,
    attribution_methods,
    cached_upload,
    clear_upload,
    computed_attribution,
    current_prediction,
    current_study,
    flash,
    forget_widgets,
    get_attribution,
    get_prediction,
    get_prepared,
    has_attribution,
    intensity_stats,
    per_study,
    pop_flash,
    reset_uploader,
    set_study,
    set_widget,
    uploader_key,
    widget_value,
)
from model.cached.analysis import (  # noqa: F401
    get_analysis,
    get_clinical_inputs,
    get_prognosis_model,
    get_segmenter,
    get_tumour,
    get_type_assessment,
    get_type_model,
    set_clinical_inputs,
)
from model.cached.survival import (  # noqa: F401
    survival_checkpoint,
    survival_cohort,
    survival_hazard_ratios,
    survival_km,
    survival_km_figure,
    survival_validation,
    prepared_png,
    reset_invalid_widget,
)
from model.cached.clinical import (  # noqa: F401
    clinical_risk_groups,
    survival_image_added_value,
)
