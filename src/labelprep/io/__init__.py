"""The one place that reads files, writes outputs and checks output paths.

Every command, widget and core function of this project reads and writes through here,
so the data-safety promises (``docs/safety.md``) hold for all of them at once:

Reading
    :func:`read_image` (one 2D/3D image: TIFF, PNG/JPEG/... with EXIF orientation,
    ``.npy``), :func:`read_image_pooled` (the same, decoded into recycled buffers),
    :func:`read_stack` (a TIFF, ``.npy`` or folder of slices, read in parallel),
    :func:`read_label_stack` / :func:`open_lazy_labels` (the same, colour-coded RGB(A)
    labels as uint32 ids with their colours: :class:`LabelStack`,
    :func:`colours_to_labels`), :func:`open_lazy` (zarr,
    OME-Zarr, TIFF, ``.npy`` or a folder, as a dask array), :func:`read_json` (one JSON
    file: :class:`JSONReadError` with the line and column of malformed JSON),
    :func:`list_images` and :func:`source_trees` (one walk for both with
    :class:`FolderScan`). Any decode error, truncation, CRC failure or size beyond the
    machine raises :class:`ImageReadError` (a ``ValueError``) naming the file and the
    reason.
Writing
    :func:`atomic_open` / :func:`atomic_path` / :func:`write_bytes`: a temporary file
    beside the target, every byte written or an error, fsync, size checked, then an
    atomic rename; the umask's mode; failures raise :class:`OutputError` (an
    ``OSError``) and leave the target as it was. :func:`remove_stale_temporaries`
    clears what killed runs left.
Output paths
    :func:`check_output_file` for single outputs, :class:`OutputTree` for destination
    folders, :func:`check_collisions` for batches: never into a source, never out of
    the destination through a symlink. Refusals raise :class:`OutputPathError`.
"""

from __future__ import annotations

from ..errors import ImageReadError, OutputError, OutputPathError
from ._colour import ColourCoder, colours_to_labels, hex_colours
from ._files import (
    IMAGE_SUFFIXES,
    PIL_SUFFIXES,
    TIFF_SUFFIXES,
    FolderScan,
    images_by_stem,
    list_images,
    natural_key,
    source_trees,
)
from ._journal import Journal, stamp
from ._json import JSONReadError, read_json
from ._label_formats import JPEG_REASON
from ._labels import intensity_warning
from ._lazy import is_zarr_path, open_lazy, open_lazy_labels
from ._limits import check_fits, memory_bytes, too_big
from ._paths import OutputTree, check_collisions, check_output_file, real
from ._read import (
    BufferPool,
    decode_into,
    image_size,
    load_pil,
    open_pil,
    pil_orientation,
    pil_to_array,
    read_image,
    read_image_pooled,
    verify_png,
)
from ._stack import LabelStack, read_label_stack, read_stack
from ._write import (
    atomic_open,
    atomic_path,
    remove_stale_temporaries,
    stale_temporaries,
    write_bytes,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "JPEG_REASON",
    "PIL_SUFFIXES",
    "TIFF_SUFFIXES",
    "BufferPool",
    "ColourCoder",
    "FolderScan",
    "ImageReadError",
    "JSONReadError",
    "Journal",
    "LabelStack",
    "OutputError",
    "OutputPathError",
    "OutputTree",
    "atomic_open",
    "atomic_path",
    "check_collisions",
    "check_fits",
    "check_output_file",
    "colours_to_labels",
    "decode_into",
    "hex_colours",
    "image_size",
    "images_by_stem",
    "intensity_warning",
    "is_zarr_path",
    "list_images",
    "load_pil",
    "memory_bytes",
    "natural_key",
    "open_lazy",
    "open_lazy_labels",
    "open_pil",
    "pil_orientation",
    "pil_to_array",
    "read_image",
    "read_image_pooled",
    "read_json",
    "read_label_stack",
    "read_stack",
    "real",
    "remove_stale_temporaries",
    "source_trees",
    "stamp",
    "stale_temporaries",
    "too_big",
    "verify_png",
    "write_bytes",
]
