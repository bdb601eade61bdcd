"""Duck-typed stand-ins for a Volume and a Study, for the scope and tumour-type tests: only the
attributes those modules read (data, affine, geometry_known, shape, spacing_mm; volumes), so a
test can build geometry a real reader would reject (a bare ellipsoid, placeholder affines)."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Vol:
    data: np.ndarray
    affine: np.ndarray
    geometry_known: bool = True

    @property
    def shape(self):
        return self.data.shape

    @property
    def spacing_mm(self):
        return tuple(np.linalg.norm(self.affine[:3, :3], axis=0))


@dataclass
class Stu:
    volumes: dict


def affine(spacing, shift=(-90.0, -100.0, -60.0)):
    """(4, 4) diagonal affine with ``spacing`` mm and the origin at ``shift`` mm."""
    a = np.diag([*spacing, 1.0])
    a[:3, 3] = shift
    return a


#: Threshold of the stand-in scope rule: far above any score seen (the largest recorded is
#: about 230), finite so the sidecar stays strict JSON, short enough to print on a page.
ADMIT_ALL = 1e12


def admitting_scorer():
    """The served out-of-distribution statistics with an unreachable threshold: a stand-in scope
    rule that admits every study whose field of view and tumour checks pass.

    For tests about plumbing only (the page, the PDF and the CLI show the same grade, the
    attribution maps reach the viewer, memory is released): the served rule decides what a
    real study gets (tests/inference/test_scope.py, tests/test_analysis.py). The score itself
    is still computed and reported; only the decision is forced open.
    """
    from model.inference.scope import MahalanobisScorer

    served = MahalanobisScorer.load()
    return MahalanobisScorer(served.means, served.precision, ADMIT_ALL,
                             {"stand_in": "threshold 1e12: admits every study (tests only)"})


def admit_every_study(monkeypatch):
    """Make :meth:`model.inference.scope.MahalanobisScorer.load` return
    :func:`admitting_scorer` (for AppTest runs, which load the sidecar themselves)."""
    from model.inference import scope

    stand_in = admitting_scorer()
    monkeypatch.setattr(scope.MahalanobisScorer, "load", classmethod(lambda cls, path=None: stand_in))
    return stand_in


def admitting_env(folder) -> dict:
    """Environment for a ``streamlit run`` server (real-browser tests) whose scope rule is
    :func:`admitting_scorer`: writes the stand-in sidecar into ``folder`` and returns
    ``{"TUMORBOARD_TYPE_OOD": path}`` (:data:`model.core.config.TYPE_OOD_FILE`)."""
    from pathlib import Path

    path = Path(folder) / "ood_admit_every_study.json"
    admitting_scorer().save(path)
    return {"TUMORBOARD_TYPE_OOD": str(path)}
