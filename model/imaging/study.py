"""A loaded multi-sequence study: :class:`Study`.

A study is up to four MRI sequences (T1, T1ce, T2, FLAIR) of one patient, each a RAS+
:class:`model.imaging.volume.Volume` on its own grid, and optionally label maps
(:class:`model.imaging.labelmap.LabelMap`, e.g. a tumour segmentation) on a volume's grid.
Accepted inputs (read by :mod:`model.imaging.io`):

* NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``; gzip is recognised by its magic bytes, not the
  extension); a 4D file with one volume is squeezed; a 4D file holding 2-4 sequences as
  channels (BraTS style) is split, one volume per channel, whose sequence must then be given;
* a 2D NIfTI, or a single 2D picture (PNG, JPEG) or DICOM image: a one-slice study, with a
  warning;
* Analyze 7.5 ``.hdr`` + ``.img`` pairs (and NIfTI pairs), with a left/right warning;
* FreeSurfer MGH/MGZ;
* DICOM: loose files (``.dcm`` or extension-less), a folder, or a ``.zip`` holding one series or
  a whole study (see :mod:`model.imaging.io.dicom`); a zip may also hold NIfTI/MGH/Analyze files.

Everything is read **in memory** (nothing is written to disk); decompression (gzip, zip) is
capped so a bomb or a truncated archive is refused instead of becoming a half-zero volume.
:meth:`Study.resampled_to` puts all sequences on a reference sequence's grid.

Refusals are :class:`model.core.errors.StudyError` subclasses whose messages say what is wrong
and what to upload instead. Patient details never leave the loaders: volumes keep a whitelist
of technical fields (``Volume.details``), and messages name files and series, never header
values.

Example::

    >>> from model.core.config import DEMO_STUDY_DIR
    >>> from model.imaging.study import Study
    >>> study = Study.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))
    >>> study.sequences
    ('T1', 'T1ce', 'T2', 'FLAIR')
    >>> study.volumes["T1ce"].orientation
    'RAS'
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import nibabel as nib
import numpy as np

from model.core.config import DEMO_STUDY_DIR
from model.core.errors import (AmbiguousChannelsError, DuplicateSequenceError, EmptyStudyError,
                               UnknownSequenceError)
from model.core.memory import release_freed_memory
from model.imaging.io.masks import attach_masks, split_masks
from model.imaging.io.uploads import Group, files_from_paths, group_uploads, guard, read_group
from model.imaging.labelmap import LabelMap
from model.imaging.register import AlignmentReport, align_volumes
from model.imaging.sequences import (REFERENCE_ORDER, SEQUENCES, SKIP, canonical_sequence,
                                     is_mask_name)
from model.imaging.volume import Volume, fov_overlap, resample_array, same_grid


def _choose(chosen: dict[str, Volume], seq: str, vol: Volume) -> None:
    """Assign ``vol`` to ``seq`` in ``chosen``.

    Raises
    ------
    DuplicateSequenceError
        ``seq`` already has a volume.
    """
    if seq in chosen:
        raise DuplicateSequenceError(
            f"Two files were given for {seq} ({chosen[seq].source_name} and "
            f"{vol.source_name}). Give one file per sequence.")
    chosen[seq] = dataclasses.replace(vol, sequence=seq)


@dataclass
class Study:
    """A loaded multi-sequence study.

    Attributes
    ----------
    volumes
        sequence name -> :class:`Volume`, in :data:`SEQUENCES` order.
    warnings
        messages for the user (non-fatal problems found while loading); those of one
        volume start with its sequence, e.g. ``"T1ce: ..."``.
    masks
        name -> :class:`LabelMap` (e.g. ``"tumour"``), each on the grid of one of the
        volumes; empty when none was given or predicted (see :meth:`with_mask`).
    alignment
        how the sequences were put in register on loading
        (:class:`model.imaging.register.AlignmentReport`: per sequence the rigid transform,
        NMI and head-mask Dice before/after, whether it was applied; ``caption`` is one line
        for the viewer); None for a study built directly from volumes (not loaded).
    """

    volumes: dict[str, Volume]
    warnings: list[str] = field(default_factory=list)
    masks: dict[str, LabelMap] = field(default_factory=dict)
    alignment: AlignmentReport | None = None

    @property
    def geometry_known(self) -> bool:
        """False when any volume's voxel size or orientation is unknown (sizes in mm or mL
        derived from the study must then say so)."""
        return all(v.geometry_known for v in self.volumes.values())

    def with_mask(self, name: str, mask: LabelMap) -> "Study":
        """A copy of the study with ``mask`` added (or replaced) under ``name``.

        Raises
        ------
        model.core.errors.StudyError
            ``mask`` is not on the grid (shape and affine) of any volume of the study.
        """
        if not any(mask.same_grid(v) for v in self.volumes.values()):
            raise UnknownSequenceError(f"The label map {name} is not on the voxel grid of any "
                                       "sequence of the study.")
        return dataclasses.replace(self, masks={**self.masks, name: mask})

    @property
    def sequences(self) -> tuple[str, ...]:
        """Sequences present, in :data:`SEQUENCES` order."""
        return tuple(s for s in SEQUENCES if s in self.volumes)

    @property
    def key(self) -> str:
        """Content hash of the study: equal for the same files assigned to the same sequences."""
        h = hashlib.sha256()
        for seq in self.sequences:
            h.update(seq.encode())
            h.update(self.volumes[seq].content_hash.encode())
        return h.hexdigest()[:16]

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_volumes(cls, volumes: Sequence[Volume], sequences: Sequence[str | None] | None = None,
                     warnings: Sequence[str] = (), masks: Sequence[Volume] = ()) -> "Study":
        """Build a study from volumes found by :func:`read_uploads`.

        Parameters
        ----------
        volumes
            the found volumes.
        sequences
            one entry per volume: a sequence name (any alias), or None / ``"-"`` to
            leave that volume out. Default: each volume's recognised ``sequence``.
        warnings
            notes to carry over (e.g. ``Found.warnings``).

        Raises
        ------
        EmptyStudyError
            no volume was kept.
        UnknownSequenceError
            a kept volume has no sequence.
        DuplicateSequenceError
            two volumes for one sequence.
        """
        seqs = list(sequences) if sequences is not None else [v.sequence or None for v in volumes]
        if len(seqs) != len(volumes):
            raise UnknownSequenceError("Give one sequence (or none) per volume.")
        chosen: dict[str, Volume] = {}
        for vol, seq in zip(volumes, seqs):
            if seq is None or seq in (SKIP, ""):
                continue
            _choose(chosen, canonical_sequence(seq), vol)
        if not chosen:
            raise EmptyStudyError("No volume was assigned a sequence. Choose T1, T1ce, T2 or "
                                  "FLAIR for at least one.")
        # masks (Found.masks): label volumes attached on their sequence's grid, GeometryError
        # when on none (model.imaging.io.masks.attach_masks); then the sequences are put in
        # register (masks move with their sequence)
        return attach_masks(cls._assemble(chosen, list(warnings)), masks).aligned()

    @classmethod
    def _assemble(cls, chosen: dict[str, Volume], notes: list[str]) -> "Study":
        ordered = {s: chosen[s] for s in SEQUENCES if s in chosen}
        warns = list(notes)
        for s, v in ordered.items():
            warns.extend(f"{s}: {w}" for w in v.warnings)
        study = cls(volumes=ordered, warnings=warns)
        study.warnings.extend(study._geometry_warnings())
        return study

    @classmethod
    def from_bytes(cls, files: Sequence[tuple[str, bytes, str | None]]) -> "Study":
        """Load a study from in-memory files.

        Parameters
        ----------
        files
            ``(file_name, data, sequence_or_None)``. ``data`` may also be a
            :class:`pathlib.Path` to a folder (DICOM or image files). A None sequence is
            recognised from the file name (:func:`recognise_sequence`) or, for DICOM,
            from the series description. For an upload holding several volumes (4D
            channels, a zip or folder of several series) the sequence may be a comma list
            in volume order (``"FLAIR,T1,T1ce,T2"``, ``"-"`` skips one), or one name
            picking the volume recognised as that sequence.

        Raises
        ------
        EmptyStudyError
            no file given, or nothing usable.
        UnknownSequenceError
            a sequence cannot be recognised and none was given.
        AmbiguousChannelsError
            several volumes in one upload and which is which is unknown.
        DuplicateSequenceError
            two files for one sequence.
        StudyError
            and every other refusal of :func:`model.imaging.io.uploads.load_volume` and
            :func:`model.imaging.io.dicom.read_dicom_series`.
        """
        if not files:
            raise EmptyStudyError("No file was given. Upload at least one MRI sequence.")
        try:
            return cls._load(files)
        finally:
            release_freed_memory()  # the load's temporary buffers go back to the OS

    @classmethod
    def _load(cls, files) -> "Study":
        chosen: dict[str, Volume] = {}
        notes: list[str] = []
        masks: list[Volume] = []
        for g in guard("The upload", group_uploads, files):
            vols, gnotes = guard(g.name, read_group, g)
            if g.spec is None:  # a label volume is a mask (model.imaging.io.masks)
                vols, found = split_masks(vols)
                masks.extend(found)
                if not vols:
                    continue
                if g.kind in ("file", "pair") and is_mask_name(g.name):
                    raise UnknownSequenceError(
                        f"{g.name} looks like a segmentation mask but holds image intensities, "
                        "not labels. Upload T1, T1ce, T2 or FLAIR volumes, or a label mask.")
            notes.extend(gnotes)
            for seq, vol in cls._assign(g, vols, notes):
                _choose(chosen, seq, vol)
        if not chosen:
            raise EmptyStudyError("No MRI sequence was found in the upload.")
        return attach_masks(cls._assemble(chosen, notes), masks).aligned()

    @staticmethod
    def _assign(g: Group, vols: list[Volume], notes: list[str]) -> list[tuple[str, Volume]]:
        names = "; ".join(v.source_name for v in vols[:6]) + (" ..." if len(vols) > 6 else "")
        spec = g.spec
        if spec is not None and len(spec) > 1:
            if len(spec) != len(vols):
                raise AmbiguousChannelsError(
                    f"{g.name} holds {len(vols)} volume(s) ({names}) but {len(spec)} sequences "
                    "were given; give one per volume, in order ('-' skips one).")
            return [(s, v) for s, v in zip(spec, vols) if s != SKIP]
        if spec is not None:
            seq = spec[0]
            if seq == SKIP:
                return []
            if len(vols) == 1:
                return [(seq, vols[0])]
            match = [v for v in vols if v.sequence == seq]
            if len(match) == 1:
                notes.append(f"{g.name}: {match[0].source_name} used as {seq}; the other "
                             f"{len(vols) - 1} volume(s) were ignored.")
                return [(seq, match[0])]
            raise AmbiguousChannelsError(
                f"{g.name} holds {len(vols)} volumes ({names}); say which is which with one "
                "sequence per volume in order, e.g. T1,T1ce,T2,FLAIR ('-' skips one).")
        if len(vols) == 1:
            v = vols[0]
            if not v.sequence:
                raise UnknownSequenceError(
                    f"Cannot tell which sequence {v.source_name} is. Choose T1, T1ce, T2 or FLAIR "
                    "for it (or name it e.g. case_t1ce.nii.gz).")
            return [(v.sequence, v)]
        known = [v for v in vols if v.sequence]
        if g.kind in ("file", "pair") or not known:
            raise AmbiguousChannelsError(
                f"{g.name} holds {len(vols)} volumes ({names}) and which sequence each is cannot "
                "be told. Say which is which, in order (e.g. FLAIR,T1,T1ce,T2=file on the command "
                "line, or choose per volume on the Study page).")
        out: dict[str, Volume] = {}
        for v in vols:
            if not v.sequence:
                notes.append(f"{v.source_name} skipped: not recognised as T1, T1ce, T2 or FLAIR.")
                continue
            prev = out.get(v.sequence)
            if prev is not None:
                keep, drop = (v, prev) if v.data.size > prev.data.size else (prev, v)
                notes.append(f"{v.sequence}: {keep.source_name} used; {drop.source_name} (fewer "
                             "voxels) ignored.")
                out[v.sequence] = keep
            else:
                out[v.sequence] = v
        return list(out.items())

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], sequences: Sequence[str | None] | None = None) -> "Study":
        """Load a study from files or folders on disk (command line, demo). See :meth:`from_bytes`.

        A folder is read as one upload (a DICOM series or study, or image files).

        Raises
        ------
        UnreadableFileError
            a path does not exist or cannot be read.
        """
        paths = [Path(p) for p in paths]
        seqs = list(sequences) if sequences is not None else [None] * len(paths)
        files = files_from_paths(paths, seqs)
        return cls.from_bytes(files)

    @classmethod
    def demo(cls) -> "Study":
        """The committed demo study (BraTS-GLI-00001-000, four sequences, 240x240x155, 1 mm)."""
        return cls.from_paths(sorted(DEMO_STUDY_DIR.glob("*.nii.gz")))

    # ---------------------------------------------------------------- geometry

    def _geometry_warnings(self) -> list[str]:
        out = []
        vols = list(self.volumes.values())
        if len(vols) < 2:
            return out
        for v in vols[1:]:
            if fov_overlap(v, vols[0]) <= 0:
                out.append(
                    f"{v.sequence} and {vols[0].sequence} do not overlap in space: the sequences "
                    "are probably not co-registered (not from the same session)."
                )
        grids = {(v.shape, tuple(np.round(v.affine, 3).ravel())) for v in vols}
        if len(grids) > 1:
            out.append(
                "The sequences are on different voxel grids; each is shown and analysed on its "
                "own grid."
            )
        return out

    def aligned(self) -> "Study":
        """A copy of the study with its sequences in register (done once, on loading).

        Each sequence not on the reference's grid (FLAIR first) is registered rigidly onto it
        with SimpleITK and its affine corrected when the decision rule of
        :mod:`model.imaging.register` accepts it; voxels are never changed. Label maps on a
        moved sequence's grid move with it. Studies whose sequences share one grid return at
        once (nothing is run). Sequences that may not line up get a warning.

        Returns
        -------
        Study
            With :attr:`alignment` set and the report's warnings added.
        """
        vols, report = align_volumes(self.volumes)
        masks = {}
        for name, m in self.masks.items():
            src = next((s for s, v in self.volumes.items() if m.same_grid(v)), None)
            if src is not None and vols[src] is not self.volumes[src]:
                m = LabelMap(m.array, vols[src].affine.copy(), m.name, m.geometry_known)
            masks[name] = m
        warns = list(dict.fromkeys([*self.warnings, *report.warnings]))
        return dataclasses.replace(self, volumes=vols, masks=masks, warnings=warns,
                                   alignment=report)

    def reference_sequence(self) -> str:
        """The sequence whose grid :meth:`resampled_to` uses by default (T1ce, T1, T2, FLAIR)."""
        for s in REFERENCE_ORDER:
            if s in self.volumes:
                return s
        raise EmptyStudyError("The study has no sequence.")

    def resampled_to(self, reference: str | None = None) -> "Study":
        """A copy of the study with every sequence on the reference sequence's voxel grid.

        Resampling is trilinear (MONAI ``SpatialResample``) in world coordinates, zero outside
        a volume's field of view. Sequences already on the grid are kept as they are.

        Parameters
        ----------
        reference
            sequence name; default :meth:`reference_sequence` (T1ce first).

        Returns
        -------
        Study
            A new study whose volumes share the reference ``shape`` and ``affine``,
            with a warning per resampled sequence and, when fields of view do not overlap
            (sequences not co-registered) or overlap by less than half, a warning saying so.

        Raises
        ------
        UnknownSequenceError
            ``reference`` is not in the study.
        """
        ref_seq = canonical_sequence(reference) if reference else self.reference_sequence()
        if ref_seq not in self.volumes:
            raise UnknownSequenceError(f"{ref_seq} is not in the study ({', '.join(self.sequences)}).")
        ref = self.volumes[ref_seq]
        vols: dict[str, Volume] = {}
        warns = list(self.warnings)
        for s, v in self.volumes.items():
            if s == ref_seq or same_grid(v, ref):
                vols[s] = v
                continue
            overlap = fov_overlap(v, ref)
            if overlap <= 0:
                warns.append(f"{s} and {ref_seq} do not overlap in space (not co-registered): "
                             f"{s} resampled to the {ref_seq} grid is empty.")
            elif overlap < 0.5:
                warns.append(f"{s} and {ref_seq} overlap by only {overlap:.0%} of the smaller field "
                             "of view: they may not be co-registered.")
            data = resample_array(v.data, v.affine, ref.affine, ref.shape)
            note = (f"resampled (trilinear, MONAI) from {tuple(v.shape)} at "
                    f"{tuple(round(x, 2) for x in v.spacing_mm)} mm to the {ref_seq} grid.")
            warns.append(f"{s}: {note}")
            vols[s] = dataclasses.replace(
                v, data=data, affine=ref.affine.copy(), warnings=v.warnings + (note,),
                content_hash=hashlib.sha256(f"{v.content_hash}>{ref.content_hash}".encode()).hexdigest())
        masks = {}
        for name, m in self.masks.items():
            if m.same_grid(ref):
                masks[name] = m
            else:  # labels are categories: nearest neighbour only
                arr = resample_array(m.array, m.affine, ref.affine, ref.shape, mode="nearest")
                masks[name] = LabelMap(np.rint(arr).astype(np.uint8), ref.affine.copy(), m.name,
                                       m.geometry_known and ref.geometry_known)
        return Study(volumes=vols, warnings=list(dict.fromkeys(warns)), masks=masks,
                     alignment=self.alignment)

    # ---------------------------------------------------------------- output

    def save(self, directory: str | Path) -> list[Path]:
        """Write each sequence as ``directory/<SEQ>.nii.gz`` (RAS, float32, NIfTI-1, qform and
        sform = the volume's affine, code 1 "scanner"). The header holds no patient detail:
        description "TumorBoard RAS <SEQ>", no extensions. Returns the written paths."""
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for s, v in self.volumes.items():
            img = nib.Nifti1Image(v.data.astype(np.float32), v.affine)
            img.set_qform(v.affine, code=1)
            img.set_sform(v.affine, code=1)
            img.header["descrip"] = f"TumorBoard RAS {s}".encode()
            img.header.set_xyzt_units("mm")
            path = out_dir / f"{s}.nii.gz"
            nib.save(img, path)
            written.append(path)
        return written

    def summary(self) -> dict:
        """De-identified technical summary per sequence (see :meth:`Volume.summary`)."""
        return {s: v.summary() for s, v in self.volumes.items()}

