"""Typed warnings: the :class:`TumorBoardWarning` family.

Library warnings are never silenced wholesale. Where a library warns about something the user
should know (lifelines not converging, nibabel reading an odd header, numpy overflowing on a
hostile scale factor), the code catches it by type and either drops it or re-issues it as one
of these classes, in plain words, once. Tests and callers can then filter by class, e.g.
``warnings.simplefilter("error", GeometryWarning)``.

Examples
--------
>>> import warnings
>>> from model.core.warnings import GeometryWarning
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warnings.warn("voxel size unknown", GeometryWarning)
>>> caught[0].category.__name__
'GeometryWarning'
"""

from __future__ import annotations


class TumorBoardWarning(UserWarning):
    """Root of every warning TumorBoard issues on purpose."""


class LoadingWarning(TumorBoardWarning):
    """Something odd but usable was found while reading an upload (header quirks, skipped
    files, values a library complained about)."""


class GeometryWarning(LoadingWarning):
    """The voxel size or orientation of a volume is unknown or was assumed, so sizes in mm or
    mL derived from it are not trustworthy (see ``Volume.geometry_known``)."""


class ConvergenceFallbackWarning(TumorBoardWarning):
    """A statistical fit did not converge and a fallback (e.g. a larger penalizer) was used;
    the message says which."""


class DataQualityWarning(TumorBoardWarning):
    """Input data (a cohort table, a visit list) has missing or inconsistent values that were
    dropped or repaired; the message says how many."""


__all__ = ["TumorBoardWarning", "LoadingWarning", "GeometryWarning",
           "ConvergenceFallbackWarning", "DataQualityWarning"]
