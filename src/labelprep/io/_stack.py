"""Reading a labelled stack: a TIFF, a ``.npy`` or a folder of 2D slices.

A folder is read in parallel (a thread pool: libpng, Pillow, tifffile and zlib release
the GIL while decoding) straight into one preallocated array: the first slice is read by
Pillow with every check of :func:`~labelprep.io.read_image`; the others, when plain
grey/RGB/RGBA PNGs like it, by libpng into the stack's own memory
(:mod:`labelprep.io._png`: one read of each file, CRCs checked), else by Pillow into it
(:func:`~labelprep.io.decode_into`: modes L, P, I;16); TIFF slices, when plain strip
TIFFs, by libdeflate into it (:mod:`labelprep.io._tiff`: one read, the IFD walked once),
else by tifffile (``asarray(out=...)``); PNG CRCs, truncation and every decode error are
checked as :func:`~labelprep.io.read_image` checks them.

Colour-coded labels (RGB/RGBA slices, an RGB TIFF, a ``(z, y, x, 3|4)`` uint8 ``.npy``)
become uint32 ids (:mod:`labelprep.io._colour`): each worker packs its decoded slice
into the stack, and once every slice is in, one more parallel pass turns the packed
colours into ids. JPEG and lossy WebP are refused for labels (their compression
invents colours and values at object borders), and so are PNGs with 16 bits per colour
channel (Pillow would narrow them to 8): :mod:`labelprep.io._label_formats`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._progress import ProgressCallback, report
from ..errors import ImageReadError
from ._colour import ColourCoder, _workers, colours_to_labels
from ._files import IMAGE_SUFFIXES, TIFF_SUFFIXES, natural_key
from ._label_formats import (
    DEEP_RGB_TIFF_REASON,
    JPEG_REASON,
    PaletteGuard,
    check_label_format,
    check_tiff_compression,
    is_jpeg_name,
    pil_palette,
    tiff_palette,
)
from ._limits import check_fits
from ._parallel import parallel, scratch
from ._png import decode_png_into
from ._read import (
    _pil_array,
    _read_npy,
    _read_tiff,
    _reason,
    decode_into,
    load_pil,
    open_pil,
    pil_orientation,
)
from ._tiff import decode_tiff_into

PathLike = str | os.PathLike


@dataclass(frozen=True)
class LabelStack:
    """A labelled stack as read from ``source``.

    ``labels``: the ids (an ndarray; a dask array from ``open_lazy_labels``);
    ``colours``: for colour-coded input the ``(n + 1, 3|4)`` uint8 colour of each id
    (row 0 the background), else None.
    """

    labels: np.ndarray
    colours: np.ndarray | None
    source: Path

    @property
    def n_colours(self) -> int:
        """Number of object colours (0 if the input was not colour-coded)."""
        return 0 if self.colours is None else len(self.colours) - 1


# ----------------------------------------------------------------------------- slices
def list_slices(path: Path, labels: bool = True) -> list[Path]:
    """The image files directly in ``path`` (no hidden ones), in natural order; a broken
    symlink among them is refused, and for labels JPEG slices, naming the first."""
    slices = sorted(
        (p for p in path.iterdir() if (p.is_file() or p.is_symlink())
         and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
        key=natural_key,
    )
    if not slices:
        raise ValueError(f"no image slices found in folder {path}")
    for p in slices:  # a missing slice must not shift the ones after it in z
        if p.is_symlink() and not p.exists():
            raise ImageReadError(p, f"a symbolic link to {os.readlink(p)}, which does not "
                                 "exist: the slice it stands for is missing")
    if labels:
        for p in slices:
            if is_jpeg_name(p):
                raise ImageReadError(p, JPEG_REASON)
    return slices


class _Into:
    """A one-buffer 'pool' for :func:`decode_into`: decode into ``target`` if it fits."""

    def __init__(self, target: np.ndarray | None):
        self.target = target

    def take(self, shape, dtype) -> np.ndarray:
        t = self.target
        if t is not None and t.shape == tuple(shape) and t.dtype == np.dtype(dtype):
            return t
        return np.empty(shape, dtype)

    def release(self, array) -> None:
        pass


def _tiff_slice(p: Path, into: np.ndarray | None, labels: bool,
                guard: PaletteGuard | None) -> np.ndarray:
    import tifffile

    if into is not None and decode_tiff_into(p, into) is not None:
        if guard is not None:
            guard.check(p, None)  # the fast path does not take palette TIFFs
        return into  # a plain strip TIFF (JPEG is not among them): one read, libdeflate
    try:
        with tifffile.TiffFile(p) as tif:
            page = tif.pages.first
            if labels:
                check_tiff_compression(p, page.compression)
            if guard is not None:
                guard.check(p, tiff_palette(page))
            # one thread per file: the slices are decoded in parallel already
            # no series parsing for one page (but an ImageJ stack can hold its images
            # behind one IFD)
            if (into is not None and len(tif.pages) == 1 and not tif.is_imagej
                    and page.shape == into.shape and page.dtype == into.dtype):
                page.asarray(out=into, maxworkers=1)
                return into
            series = tif.series[0]
            if (into is not None and tuple(series.shape) == into.shape
                    and series.dtype == into.dtype):
                tif.asarray(out=into, maxworkers=1)
                return into
            check_fits(int(np.prod(series.shape, dtype=np.int64)) * series.dtype.itemsize,
                       p, f"a {series.dtype} array of shape {tuple(series.shape)}")
            return tif.asarray(maxworkers=1)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile, zlib errors
        raise ImageReadError(p, f"not a readable TIFF: {_reason(exc)}") from exc


def _pil_slice(p: Path, into: np.ndarray | None, labels: bool,
               guard: PaletteGuard | None) -> np.ndarray:
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if into is not None and p.suffix.lower() == ".png":
        fast = decode_png_into(p, into)  # libpng, one read of the file
        if fast is not None:
            if guard is not None:
                guard.check(p, None)  # libpng does not take palette PNGs here
            return fast
    with open_pil(p) as im:
        if labels:
            check_label_format(p, im)  # JPEG, lossy WebP, 16 bits per colour channel
        out = decode_into(im, _Into(into))
        if out is None:
            out = _pil_array(im, p)
        else:
            load_pil(im, p)  # decoded already: checks the PNG CRCs
            if pil_orientation(im, p) != 1:
                out = _pil_array(im, p)
        if guard is not None:
            guard.check(p, pil_palette(im))  # read after decoding: getpalette() loads
        return out


def read_slice(p: Path, into: np.ndarray | None = None, labels: bool = True,
               guard: PaletteGuard | None = None) -> np.ndarray:
    """One slice's pixels, as :func:`read_image` reads them; decoded straight into
    ``into`` when its shape and dtype fit (then ``into``, or a view of it, is returned).
    For labels, JPEG (also a JPEG-compressed TIFF), lossy WebP and PNGs with 16 bits per
    colour channel are refused (:mod:`labelprep.io._label_formats`). ``guard`` (a
    :class:`PaletteGuard`) is given the slice's palette, or None."""
    suffix = p.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return _tiff_slice(p, into, labels, guard)
    if suffix == ".npy":
        if guard is not None:
            guard.check(p, None)
        return _read_npy(p)
    return _pil_slice(p, into, labels, guard)


def is_colour(arr: np.ndarray) -> bool:
    """A decoded slice that is colour-coded: uint8 of shape (h, w, 3 or 4)."""
    return arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[-1] in (3, 4)


def check_like(p: Path, arr: np.ndarray, first: np.ndarray, first_path: Path) -> None:
    """Refuse a slice whose shape or dtype differs from the first one's, naming it."""
    if arr.shape != first.shape or arr.dtype != first.dtype:
        raise ImageReadError(
            p, f"slice has shape {arr.shape} and dtype {arr.dtype}, but "
            f"{first_path.name} has shape {first.shape} and dtype {first.dtype}"
        )


def first_slice(slices: list[Path], labels: bool = True,
                guard: PaletteGuard | None = None) -> tuple[np.ndarray, bool]:
    """The first slice and whether the stack is colour-coded; refuses other shapes."""
    first = read_slice(slices[0], labels=labels, guard=guard)
    colour = labels and is_colour(first)
    if first.ndim != 2 and not colour:
        got = f"shape {first.shape} ({first.dtype}"
        got += ", grey + alpha)" if first.ndim == 3 and first.shape[-1] == 2 else ")"
        want = "a 2D slice or 8-bit RGB/RGBA colours" if labels else "a 2D slice"
        raise ImageReadError(slices[0], f"expected {want}, got {got}")
    return first, colour


def _read_folder(path: Path, progress, labels: bool, background, workers) -> LabelStack:
    slices = list_slices(path, labels)
    guard = PaletteGuard() if labels else None
    first, colour = first_slice(slices, labels, guard)
    plane = first.shape[:2]
    dtype = np.dtype(np.uint32) if colour else first.dtype
    check_fits(len(slices) * int(np.prod(plane)) * dtype.itemsize, path,
               f"{len(slices)} slices of shape {plane} ({dtype})")
    stack = np.empty((len(slices), *plane), dtype=dtype)
    coder = ColourCoder(first.shape[-1], background) if colour else None

    def fill(i: int) -> None:
        p, out = slices[i], stack[i]
        if i == 0:
            arr = first
        else:
            # RGB(A) from libpng: the first slice's shape; from Pillow: RGBX
            into = scratch(first.shape) if colour else out
            arr = read_slice(p, into, labels, guard)
            check_like(p, arr, first, slices[0])
        if coder is not None:
            coder.pack(arr, out)
        elif not (arr.ctypes.data == out.ctypes.data and arr.strides == out.strides):
            out[...] = arr

    n = _workers(workers)
    parallel(fill, len(slices), n, progress)
    if coder is None:
        return LabelStack(stack, None, path)
    coder.finish()
    parallel(lambda i: coder.remap(stack[i]), len(slices), n)
    return LabelStack(stack, coder.colours, path)


# ----------------------------------------------------------------------------- files
def _read_tiff_stack(path: Path, labels: bool, background, workers) -> LabelStack:
    import tifffile

    colour = separate = False
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if labels:
                check_tiff_compression(path, page.compression)
            colour = (labels and page.photometric == tifffile.PHOTOMETRIC.RGB
                      and tif.series[0].dtype == np.uint8 and page.samplesperpixel in (3, 4))
            separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
            # interleaved samples: an RGB image; a (3|4, y, x) array is written as planar
            # RGB by tifffile's defaults, and read as the label stack it was
            if (labels and not colour and page.photometric == tifffile.PHOTOMETRIC.RGB
                    and not separate and tif.series[0].dtype != np.uint8):
                raise ImageReadError(path, DEEP_RGB_TIFF_REASON.format(
                    dtype=tif.series[0].dtype))
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"not a readable TIFF: {_reason(exc)}") from exc
    arr = _read_tiff(path)
    if not colour:
        return LabelStack(arr, None, path)
    if separate:
        arr = np.moveaxis(arr, -3, -1)
    check_fits(arr.size // arr.shape[-1] * 4, path, "the ids of a colour-coded stack")
    ids, colours = colours_to_labels(arr, background, workers=workers)
    return LabelStack(ids, colours, path)


def read_label_stack(
    path: PathLike,
    progress: ProgressCallback | None = None,
    *,
    background: Sequence[int] | None = None,
    workers: int | None = None,
) -> LabelStack:
    """Read a labelled stack (TIFF, ``.npy`` or folder of slices), colour-coded or not.

    A folder's slices (any of :data:`IMAGE_SUFFIXES` directly inside it, no hidden
    files) are sorted naturally ('z2' before 'z10'), must all have the first one's
    shape and dtype, and are read on ``workers`` threads (default: the usable cores)
    into one array; the result does not depend on ``workers``. ``progress(done,
    total)`` is called per slice, from the calling thread.

    Colour-coded labels (RGB or RGBA slices; a TIFF with RGB photometric and uint8
    samples; a uint8 ``.npy`` of shape ``(z, y, x, 3|4)``) become uint32 ids, one per
    distinct colour, stack-wide: ``background`` (default black; for RGBA also every
    alpha-0 pixel) is 0, the others 1..n in the order of ``R<<16 | G<<8 | B`` (RGBA:
    ``R<<24 | G<<16 | B<<8 | A``), see :func:`colours_to_labels`. Palette PNGs keep
    their indices, 8/16/32-bit slices their values. JPEG and lossy WebP slices are
    refused, and so are PNGs with 16 bits per colour channel.

    Returns
    -------
    LabelStack
        ``labels`` (``.npy`` memory-mapped read-only unless colour-coded), ``colours``
        (None unless colour-coded), ``source``.

    Raises
    ------
    FileNotFoundError, ImageReadError, ValueError
        Missing path; an unreadable file or one that cannot hold labels (JPEG, lossy
        WebP or TIFF compression, 16 bits per colour channel, an animation, a palette
        other than the first slice's), a broken symlink, slices of mixed shape/dtype
        (naming the file); an empty folder.

    See Also
    --------
    read_stack : the same, the ids only.
    open_lazy_labels : for stacks bigger than memory.
    colours_to_labels : the colour-to-id mapping.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for z, colour in enumerate([(9, 9, 9), (255, 0, 0)]):
    ...     rgb = np.zeros((2, 3, 3), np.uint8); rgb[z, 1:] = colour
    ...     Image.fromarray(rgb).save(folder / f"z{z}.png")
    >>> s = read_label_stack(folder)
    >>> s.labels[:, :, 1:].tolist(), s.colours.tolist()
    ([[[1, 1], [0, 0]], [[0, 0], [2, 2]]], [[0, 0, 0], [9, 9, 9], [255, 0, 0]])
    """
    return _read(Path(path), progress, True, background, workers)


def _read(path: Path, progress, labels: bool, background, workers) -> LabelStack:
    background = (0, 0, 0) if background is None else tuple(background)
    if path.is_dir():
        return _read_folder(path, progress, labels, background, workers)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = _read_npy(path, mmap=True)
        if labels and arr.ndim == 4 and is_colour(arr[0]):
            check_fits(arr.size // arr.shape[-1] * 4, path, "the ids of a colour-coded stack")
            out = LabelStack(*colours_to_labels(arr, background, workers=workers), path)
        else:
            out = LabelStack(arr, None, path)
    elif suffix in TIFF_SUFFIXES:
        out = _read_tiff_stack(path, labels, background, workers)
    elif labels and is_jpeg_name(path):
        raise ImageReadError(path, JPEG_REASON)
    else:
        raise ImageReadError(
            path, "unsupported stack format (expected .tif/.tiff, .npy or a folder of slices)"
        )
    report(progress, 1, 1)
    return out


def read_stack(path: PathLike, progress: ProgressCallback | None = None, *,
               labels: bool = True) -> np.ndarray:
    """Read a labelled stack: a TIFF, a folder of 2D slices, or a ``.npy`` file.

    ``read_label_stack(path, progress).labels``: a folder's slices (any of
    :data:`IMAGE_SUFFIXES`, directly inside it) are sorted naturally ('z2' before 'z10')
    and must all have the same shape and dtype; they are read in parallel. ``.npy``
    files are memory-mapped read-only rather than loaded. ``progress(done, total)`` is
    called per slice for folders. Colour-coded labels become uint32 ids (their colours
    are dropped: use :func:`read_label_stack` to keep them); JPEG is refused.

    ``labels=False`` reads an *image* stack: no colour mapping (an RGB TIFF stays RGB),
    JPEG slices allowed, slices must be 2D.

    Raises
    ------
    FileNotFoundError, ImageReadError, ValueError
        Missing path; unreadable file; slices of mixed shape/dtype or an empty folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.npy"
    >>> np.save(p, np.arange(8, dtype=np.uint16).reshape(2, 2, 2))
    >>> read_stack(p).shape
    (2, 2, 2)
    """
    return _read(Path(path), progress, bool(labels), None, None).labels
