"""Readers: bytes in, :class:`model.imaging.volume.Volume` out.

``uploads`` groups what was uploaded and dispatches; ``archive`` opens zips, folders and
gzip with size caps; ``sniff`` says what bytes are; ``nifti``, ``picture`` and ``dicom`` read
one format each (``deid`` scrubs patient identifiers out of DICOM text). Readers call
:func:`model.imaging.volume.make_volume` and never call back up.
"""
