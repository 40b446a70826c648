"""Multi-class run-length encoding (RLE) of label masks, COCO-compatible.

One encoding stores every class of a mask: COCO's run-length encoding with a
``values`` key added, holding the label of each run::

    >>> import numpy as np
    >>> from labelprep import rle
    >>> mask = np.array([[0, 0, 1, 1, 0],
    ...                  [3, 0, 1, 1, 0],
    ...                  [3, 3, 1, 1, 0],
    ...                  [3, 3, 0, 0, 0]], dtype=np.uint8)
    >>> r = rle.encode(mask)
    >>> r["values"], r["counts"]
    ([0, 3, 0, 3, 1, 0, 1, 0], [1, 3, 2, 2, 3, 1, 3, 5])
    >>> bool((rle.decode(r) == mask).all())
    True

Runs follow column-major (Fortran) order over all axes, exactly as COCO: the first
axis varies fastest; ``size`` is the array shape and ``dtype`` the NumPy dtype name.
``to_coco``/``from_coco`` convert binary masks to and from COCO's own RLE (identical
to ``pycocotools.mask.encode``), ``save``/``load`` read and write ``*.rle.json`` files.

Every function checks its input and raises ``ValueError`` (``TypeError`` for a float
mask) naming the problem rather than returning garbage.
"""

# The package, module by module (each one explains itself):
#   _base    the dtypes, SUFFIX, the numba kernels (imported on first use), the mask
#            check and the split of work into chunks (for progress reports)
#   _encode  encode: the runs of a mask (two passes over it) and their two forms
#   _parse   _parse: validating an RLE dict (either form) into arrays, and its checks
#   _decode  decode (a fast path, else every check first), num_runs, compact, expand
#   _coco    to_coco, from_coco: binary 2D masks and COCO's own RLE
#   _files   dumps, save (atomic), load (checked)
# ``_CHUNK_ELEMENTS`` is read where it is used (_encode, _decode): patch it there.

from __future__ import annotations

from ._base import DTYPES as DTYPES
from ._base import RLE as RLE
from ._base import SUFFIX
from ._base import _kernels as _kernels
from ._coco import from_coco, to_coco
from ._decode import _decode_checked as _decode_checked
from ._decode import _decode_fast as _decode_fast
from ._decode import compact, decode, expand, num_runs
from ._encode import encode
from ._files import dumps, load, save
from ._parse import _check_counts as _check_counts
from ._parse import _decode_string as _decode_string
from ._parse import _int_array as _int_array
from ._parse import _parse as _parse

__all__ = [
    "encode",
    "decode",
    "compact",
    "expand",
    "num_runs",
    "to_coco",
    "from_coco",
    "save",
    "load",
    "dumps",
    "SUFFIX",
]
