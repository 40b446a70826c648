"""Presizing: shrink an image dataset once, before training, with its masks kept consistent.

Loading and resizing large photos at every epoch is often the bottleneck of a training
pipeline. Presizing does it once: every image is saved at a smaller size (aspect kept,
each side still at least the training size, so random crops stay possible), and every
segmentation mask is shrunk to exactly the same shape without ever inventing new labels.

- :func:`output_shape` is the one rule for the output shape, shared by images and masks.
- :func:`image` resizes an array with proper anti-aliasing (Pillow's LANCZOS filter, after
  an exact integer box reduction when the factor is large: "reduce then resample").
- :func:`mask` resizes a label mask by sampling (``"nearest"``, the pixel at the centre of
  each output cell) or by majority vote (``"mode"``); values are never interpolated.
- :func:`folder` does a whole dataset tree in parallel (threads for Pillow formats, a
  process pool for TIFF/.npy, or a ``dask.distributed`` cluster), with JPEG DCT-domain
  downscaling on load, resume, atomic writes and a report.

Examples
--------
>>> import numpy as np
>>> from labelprep import presize
>>> presize.output_shape((1632, 2448), 160)
(160, 240)
>>> small = presize.image(np.zeros((1632, 2448, 3), np.uint8), 160)
>>> small.shape
(160, 240, 3)
>>> presize.mask(np.zeros((1632, 2448), np.int64), 160).shape
(160, 240)
"""

# The package, module by module (each one explains itself):
#   _shape   output_shape: the one shape rule, shared by images and masks
#   _image   image: LANCZOS after a box reduction, alpha premultiplied
#   _mask    mask, lost_labels: labels never interpolated ("nearest" or "mode")
#   _read    load, and the decoding of one source file (JPEG draft, EXIF orientation)
#   _write   the encoding and atomic writing of one presized file
#   _job     the unit of work of a folder run (one image and its mask) and its FileResult
#   _plan    check_folders, and the pairing of images with masks and destinations
#   _run     the executors: this thread, threads, processes or a dask cluster
#   _folder  folder (resume journal, run, report) and its FolderReport
# The settings below live here, on the package, and the modules read them at call time:
# ``presize.DURABLE = True`` (docs/safety.md) reaches every write.

from __future__ import annotations

from ._folder import FolderReport, folder
from ._image import image
from ._job import FileResult
from ._mask import MASK_METHODS, lost_labels, mask
from ._plan import check_folders
from ._read import load
from ._run import EXECUTORS
from ._shape import PathLike as PathLike
from ._shape import Size as Size
from ._shape import output_shape

__all__ = [
    "EXECUTORS",
    "MASK_METHODS",
    "FileResult",
    "FolderReport",
    "check_folders",
    "folder",
    "image",
    "load",
    "lost_labels",
    "mask",
    "output_shape",
]

#: Pillow's ``reducing_gap``: first an exact box reduction by an integer factor while the
#: remaining factor stays >= this gap, then LANCZOS. At 3.0 the result is
#: indistinguishable from a full LANCZOS resize (Pillow documentation), at a fraction of
#: the cost for large factors.
REDUCING_GAP = 3.0
#: JPEG files are decoded in the DCT domain at 1/2, 1/4 or 1/8 scale ("draft"), choosing
#: the smallest scale that keeps every side >= ``DRAFT_GAP`` x the output side; LANCZOS
#: then does the rest. 2.0 is what Pillow's own ``thumbnail`` uses.
DRAFT_GAP = 2.0
#: The resume journal in ``dst``: what completed writes recorded (see :func:`folder`).
JOURNAL_NAME = ".labelprep-presize.jsonl"
#: fsync every output before it replaces anything. Off by default: measured on the
#: presize benchmark (40 x 4 MP JPEGs to 160 px, 2 threads) a per-file fsync cost 10.8%,
#: over the 3% allowed; instead one ``os.sync()`` ends every run, before the journal is
#: rewritten. Outputs are still complete and size-checked before they replace anything.
DURABLE = False
#: JPEG quality of written JPEG images.
JPEG_QUALITY = 90
