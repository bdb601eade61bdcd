"""Readers: bytes in, :class:`model.imaging.volume.Volume` out.

``uploads`` groups what was uploaded and dispatches (and refuses non-regular paths);
``archive`` opens zips, folders and gzip with size caps; ``sniff`` says what bytes are;
``nifti``, ``picture`` and ``dicom`` read one format each (``dicom_frames`` checks the frames a
DICOM header claims against its bytes, ``deid`` scrubs patient identifiers and keeps enumerated
fields from being echoed); ``quiet`` captures library warnings and log records during a load.
Readers call :func:`model.imaging.volume.make_volume` and never call back up.
"""
