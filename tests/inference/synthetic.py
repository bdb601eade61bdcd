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
