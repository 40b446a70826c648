"""Dataset export: per-object crops, and COCO instance annotations (writer and reader).

- :func:`crops` writes, for every object of a labelled stack (2D or 3D), the image crop
  and the object's mask crop over its bounding box (plus a margin, or a fixed size
  centred on the object), with a ``crops.csv`` manifest: data for classifiers.
- :func:`coco` writes a COCO instances JSON from 2D instance label images (compressed
  RLE segmentations identical to pycocotools', bbox and area as pycocotools computes
  them): data for detectors and instance segmenters.
- :func:`read_coco` turns a COCO file back into one instance label image (and class
  mask) per image; :func:`is_coco_file` says whether a file is one (never raises).

Everything is written atomically through :mod:`labelprep.io`; nothing here imports
napari or Qt.

>>> import numpy as np
>>> from labelprep import export
>>> masks = np.array([[0, 1, 1], [2, 0, 1]], np.uint8)
>>> data = export.coco([masks])
>>> [(a["bbox"], a["area"]) for a in data["annotations"]]
[([1.0, 0.0, 2.0, 2.0], 3), ([0.0, 1.0, 1.0, 1.0], 1)]
"""

from __future__ import annotations

from ._coco import coco
from ._coco_read import is_coco_file, read_coco
from ._crops import MANIFEST, crops

__all__ = ["MANIFEST", "coco", "crops", "is_coco_file", "read_coco"]
