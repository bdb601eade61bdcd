"""Imaging: MRI files in, a :class:`model.imaging.study.Study` of RAS+ volumes out.

Data flow one way, top to bottom::

    io.uploads   (group uploaded files: pairs, DICOM pools, zips, folders)
      -> io.archive (zip / folder members, bomb guards)
      -> io.sniff   (what the bytes are) -> io.nifti / io.dicom (one reader per format)
      -> volume     (Volume: validate, reorient to RAS+)
      -> study      (Study: one volume per sequence, optional masks)

Import the modules themselves (``from model.imaging.study import Study``); this package
re-exports nothing so that importing one reader does not load the others.
"""
