"""Library chatter captured while one upload is read, so a refusal is exactly one line.

nibabel logs header fixes (``sizeof_hdr should be 348``, ``data code 1536 not supported``,
``vox offset (=nan) ...``) on the ``nibabel`` logger, pydicom warns about invalid values (and
would quote them), numpy warns on overflow (a hostile RescaleSlope) quoting our source line,
PIL warns about decompression bombs. Inside :func:`quiet_loading` all of these are captured:
library warnings and log records are dropped (the loaders already turn what matters into a
plain sentence in ``Volume.warnings`` or a refusal); TumorBoard's own typed warnings
(:class:`model.core.warnings.TumorBoardWarning`, e.g. ``GeometryWarning``) are re-issued once
after a successful load and dropped with a refusal.

``warnings.catch_warnings`` and logger settings are process-wide, so loads that capture are
serialised by a lock (Streamlit runs each session's script on its own thread).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings

import numpy as np

from model.core.warnings import TumorBoardWarning

_LOCK = threading.RLock()
#: Loggers of the libraries the readers call.
LIBRARY_LOGGERS = ("nibabel", "pydicom", "PIL")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):  # kept only to be counted; never printed
        self.records.append(record)


@contextlib.contextmanager
def quiet_loading():
    """Capture library warnings, numpy floating-point warnings and library log records.

    Yields a dict that, on exit, holds ``"library_warnings"`` and ``"log_records"`` counts
    (for tests and benchmarks). Our own :class:`TumorBoardWarning` s are re-issued when the
    block ends without an exception.
    """
    stats = {"library_warnings": 0, "log_records": 0}
    with _LOCK:
        handler = _Collect()
        saved = []
        # nibabel attaches its own stderr handler to "nibabel.global": every library logger
        # and its existing children get our handler *instead of* theirs while loading.
        names = set(LIBRARY_LOGGERS) | {
            n for n, lg in logging.Logger.manager.loggerDict.items()
            if isinstance(lg, logging.Logger) and n.split(".")[0] in LIBRARY_LOGGERS}
        for name in sorted(names):
            lg = logging.getLogger(name)
            saved.append((lg, lg.propagate, list(lg.handlers)))
            for h in list(lg.handlers):
                lg.removeHandler(h)
            lg.addHandler(handler)
            lg.propagate = False
        ok = False
        try:
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
                warnings.simplefilter("always")
                yield stats
                ok = True
        finally:
            for lg, propagate, handlers in saved:
                lg.removeHandler(handler)
                for h in handlers:
                    lg.addHandler(h)
                lg.propagate = propagate
            ours = [w for w in caught if issubclass(w.category, TumorBoardWarning)]
            stats["library_warnings"] = len(caught) - len(ours)
            stats["log_records"] = len(handler.records)
    if ok:
        for w in {(str(w.message), w.category): w for w in ours}.values():
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


__all__ = ["quiet_loading", "LIBRARY_LOGGERS"]
