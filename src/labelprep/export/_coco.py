"""COCO instance annotations from 2D instance label images (the reader: ``_coco_read``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressCallback, report
from ..io import FolderScan, atomic_open

__all__ = ["coco"]

PathLike = str | os.PathLike


def _is_folder_arg(value: Any) -> bool:
    """A path, or a folder already walked (:class:`~labelprep.io.FolderScan`)."""
    return isinstance(value, (str, os.PathLike, FolderScan))


def _root(folder: PathLike | FolderScan) -> Path:
    return folder.root if isinstance(folder, FolderScan) else Path(folder)


# ============================================================================ inputs
def _read_array(path: Path) -> np.ndarray:
    """A mask file as an array: stacks (TIFF, .npy, folders of slices) or one image."""
    from ..io import TIFF_SUFFIXES, read_image, read_stack

    if path.is_dir() or path.suffix.lower() in (*TIFF_SUFFIXES, ".npy"):
        return read_stack(path)
    return read_image(path)


class _Source:
    """The 2D label images of a :func:`coco` call: (file name, loader) per image."""

    def __init__(self, items: list[tuple[str, Any]], key: list | None, where: str):
        self.items = items  # (file_name, array or path)
        self.keys = key  # (rel parent, stem) per item for folders, else None
        self.where = where

    def __len__(self) -> int:
        return len(self.items)

    def load(self, k: int) -> tuple[str, np.ndarray]:
        name, src = self.items[k]
        arr = _read_array(src) if isinstance(src, Path) else np.asarray(src)
        if arr.ndim != 2:
            what = src if isinstance(src, Path) else f"{self.where} {k}"
            raise ValueError(f"{what}: expected a 2D label image, got shape {arr.shape}")
        return name, arr


def _arrays(value: Any, what: str) -> list[np.ndarray] | None:
    """A 2D array, a 3D stack or a sequence of 2D arrays as a list; None if a path/scan."""
    if _is_folder_arg(value):
        return None
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.ndim == 2:
            return [arr]
        if arr.ndim == 3:
            return list(arr)
        raise ValueError(f"{what} must be 2D images or a 3D stack, got shape {arr.shape}")
    if isinstance(value, Sequence):
        return [np.asarray(a) for a in value]
    raise TypeError(f"{what} must be a folder, a file, an array or a list of arrays, "
                    f"got {type(value).__name__}")


def _masks_source(masks: Any, images: Any) -> _Source:
    arrays = _arrays(masks, "masks")
    if arrays is None:
        if isinstance(masks, FolderScan):
            return _folder_source(masks, images)
        root = Path(masks)
        if not root.exists():
            raise FileNotFoundError(f"masks: no such file or folder: {root}")
        if root.is_dir():
            return _folder_source(root, images)
        arrays = _arrays(_read_array(root), f"masks {root}")
    if images is None:
        names = [f"{k:06d}" for k in range(len(arrays))]
    elif _is_folder_arg(images):
        raise ValueError("images as a folder pairs with masks as a folder; for masks given "
                         "as arrays or a stack, pass images as a list of file names")
    else:
        names = [str(n) for n in images]
        if len(names) != len(arrays):
            raise ValueError(f"{len(names)} image names for {len(arrays)} masks")
    return _Source(list(zip(names, arrays)), None, "mask")


def _folder_source(masks: Path | FolderScan, images: Any) -> _Source:
    """The masks of a folder (walked once: ``masks`` may be a scan of it), named by their
    images' paths in the folder ``images`` (a path or a scan) if given."""
    from ..io import images_by_stem, list_images

    root = _root(masks)
    files = list_images(masks)
    if not files:
        raise ValueError(f"masks: no mask images found in {root}")
    keys = [(f.relative_to(root).parent.as_posix(), f.stem) for f in files]
    seen: dict[tuple[str, str], Path] = {}
    for f, key in zip(files, keys):
        if key in seen:
            raise ValueError(f"masks: {seen[key]} and {f} have the same name; keep one")
        seen[key] = f
    if images is None:
        names = [f.relative_to(root).as_posix() for f in files]
    else:
        img_root = _root(images)
        if not isinstance(images, FolderScan) and not img_root.is_dir():
            raise NotADirectoryError(f"images: not a folder: {img_root}")
        by_stem = images_by_stem(images, exclude=[root])
        names = []
        for f, key in zip(files, keys):
            found = by_stem.get(key, [])
            if len(found) != 1:
                rel = f.relative_to(root).as_posix()
                if not found:
                    raise ValueError(f"no image for mask {rel} in {img_root} (images pair "
                                     "with masks by relative folder and file stem)")
                raise ValueError(f"mask {rel} matches several images: "
                                 + ", ".join(p.name for p in found))
            names.append(found[0].relative_to(img_root).as_posix())
    return _Source([(n, f) for n, f in zip(names, files)], keys, "mask")


def _class_source(categories: Any, masks: _Source, masks_arg: Any) -> _Source:
    """Class masks, paired with the masks by (folder, stem) or by position."""
    arrays = _arrays(categories, "categories")
    if arrays is None:
        scanned = isinstance(categories, FolderScan)
        root = _root(categories)
        if not scanned and not root.exists():
            raise FileNotFoundError(f"categories: no such file or folder: {root}")
        if scanned or root.is_dir():
            if masks.keys is None:
                raise ValueError("categories as a folder of class masks pairs with masks "
                                 "as a folder; pass class masks as arrays or a stack")
            from ..io import images_by_stem

            by_stem = images_by_stem(categories, exclude=[_root(masks_arg)])
            items = []
            for key, (name, _) in zip(masks.keys, masks.items):
                found = by_stem.get(key, [])
                if len(found) != 1:
                    problem = "no class mask" if not found else "several class masks"
                    raise ValueError(f"{problem} for {'/'.join(k for k in key if k != '.')}"
                                     f" in {root}")
                items.append((name, found[0]))
            return _Source(items, masks.keys, "class mask")
        arrays = _arrays(_read_array(root), f"categories {root}")
    if len(arrays) != len(masks):
        raise ValueError(f"{len(arrays)} class masks for {len(masks)} masks")
    return _Source([(name, a) for (name, _), a in zip(masks.items, arrays)], None,
                   "class mask")


# ============================================================================ writing
def _object_classes(cls: np.ndarray, index, name: str) -> np.ndarray:
    """Per object of ``index``, the most frequent non-zero class under its pixels."""
    n = len(index)
    if n == 0:
        return np.zeros(0, np.int64)
    flat = np.ascontiguousarray(cls).reshape(-1)
    vals = flat[index.voxel_indices].astype(np.int64, copy=False)
    first = vals[index.offsets[:-1]]
    differs = vals != np.repeat(first, index.counts)
    mixed = np.logical_or.reduceat(differs, index.offsets[:-1]) | (first == 0)
    out = first.copy()
    for i in np.flatnonzero(mixed).tolist():
        v = vals[index.offsets[i]:index.offsets[i + 1]]
        v = v[v != 0]
        if v.size == 0:
            raise ValueError(f"{name}: object {index.labels[i]} has class 0 (background) "
                             "on all its pixels in the class mask")
        u, c = np.unique(v, return_counts=True)
        out[i] = u[np.argmax(c)]
    if out.min() < 0 or out.max() > 2**31 - 1:
        raise ValueError(f"{name}: class ids must be 1 .. 2**31 - 1, got {out.min()} .. "
                         f"{out.max()}")
    return out


def _polygons(mask_crop: np.ndarray, r0: int, c0: int) -> list[list[float]]:
    """Outer contours of a binary crop (rows from ``r0``, columns from ``c0``) as COCO
    polygons ``[x0, y0, x1, y1, ...]`` in pixel-edge coordinates (skimage traces them)."""
    from skimage.measure import find_contours

    padded = np.pad(mask_crop, 1)
    polys = []
    for contour in find_contours(padded, 0.5, positive_orientation="high"):
        y, x = contour[:, 0], contour[:, 1]
        # shoelace area in (x, y): negative for outer contours as find_contours winds
        # them with positive_orientation="high", positive for holes (dropped)
        area = 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
        if area >= 0 or contour.shape[0] < 4:
            continue
        pts = np.empty((contour.shape[0] - 1, 2))
        pts[:, 0] = x[:-1] + (c0 - 1 + 0.5)
        pts[:, 1] = y[:-1] + (r0 - 1 + 0.5)
        polys.append(np.round(pts, 2).ravel().tolist())
    return polys


def _prefetch(source: _Source) -> Iterator[tuple[str, np.ndarray]]:
    """The images of ``source`` in order; files are read one ahead in a thread."""
    if source.keys is None or len(source) < 2:
        for k in range(len(source)):
            yield source.load(k)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(source.load, 0)
        for k in range(len(source)):
            cur = nxt.result()
            if k + 1 < len(source):
                nxt = pool.submit(source.load, k + 1)
            yield cur


def coco(
    masks: Any,
    images: Any = None,
    *,
    out: PathLike | None = None,
    categories: Any = None,
    polygons: bool = False,
    progress: ProgressCallback | None = None,
) -> dict:
    """COCO instances annotations of 2D instance label images (background 0).

    Each object of each label image becomes one annotation: ``segmentation`` is its
    compressed RLE (the string of ``pycocotools.mask.encode``), ``bbox`` ``[x, y, w,
    h]`` and ``area`` equal pycocotools' ``toBbox`` and ``area``, ``iscrowd`` 0. Image
    ids are 1, 2, ... in the order of the masks (files sorted naturally by relative
    path), annotation ids 1, 2, ... by image and ascending label: the same inputs
    always give the same file.

    Parameters
    ----------
    masks : path, FolderScan, ndarray or list of ndarray
        A folder of label images (searched recursively), a stack file (TIFF/.npy: one
        image per slice), a 2D array, a 3D array (one image per slice) or a list of 2D
        arrays. Wherever a folder is accepted (``masks``, ``images``, ``categories``),
        an :class:`~labelprep.io.FolderScan` of it may be given instead: the folder is
        then not walked again (a caller that also checks its outputs against
        ``io.source_trees`` walks each folder once).
    images : path, FolderScan or list of str, optional
        With a folder of masks: the folder of their images, paired by relative folder
        and file stem (``masks/a/x.png`` with ``images/a/x.jpg``); ``file_name`` is the
        image's path relative to it (without: the mask's). With arrays: the file name
        of each image (default ``000000``, ``000001``, ...).
    out : path, optional
        Write the JSON there (atomically).
    categories : None, dict, path, FolderScan, ndarray or list of ndarray
        None: one class, ``{"id": 1, "name": "object"}``. A dict ``label -> class
        name`` (every label of every image must be in it): class ids 1, 2, ... in
        sorted name order. Class masks (a folder paired with the masks by folder and
        stem, a stack, arrays): each object takes the most frequent non-zero class
        under its pixels, class ids are those values (names their decimal text).
    polygons : bool
        Store each object's outer contours as polygons (traced by
        ``skimage.measure.find_contours``; holes are filled, and rasterising them gives
        back an approximation) instead of RLE. ``bbox`` and ``area`` stay those of the
        exact mask.
    progress : callable, optional
        ``progress(done, total)`` in images.

    Returns
    -------
    dict
        The COCO dataset (``info``, ``licenses``, ``images``, ``annotations``,
        ``categories``), as written to ``out``.

    Raises
    ------
    ValueError
        Masks that are not 2D, a mask without its image (or with several), class
        masks missing or of another shape, a label missing from ``categories``.
    ImportError
        ``polygons=True`` without scikit-image.

    See Also
    --------
    read_coco : read such a file back.
    crops : per-object image and mask crops.

    Examples
    --------
    >>> m = np.array([[0, 5, 5], [0, 5, 0]], np.uint16)
    >>> coco(m)["annotations"][0]["segmentation"]
    {'size': [2, 3], 'counts': '231'}
    """
    from .._kernels.export import coco_strings
    from ..index import LabelIndex

    source = _masks_source(masks, images)
    classes = None
    names: dict[Any, int] = {}
    if isinstance(categories, Mapping):
        values = list(categories.values())
        if not all(isinstance(v, str) for v in values):
            raise ValueError("categories as a dict maps labels to class names (str)")
        names = {name: k for k, name in enumerate(sorted(set(values)), start=1)}
        label_class = {int(k): names[v] for k, v in categories.items()}
        cats = [{"id": k, "name": name, "supercategory": "object"}
                for name, k in names.items()]
    elif categories is None:
        cats = [{"id": 1, "name": "object", "supercategory": "object"}]
    else:
        classes = _class_source(categories, source, masks)
        cats = []
    if polygons:
        try:
            import skimage.measure  # noqa: F401
        except ImportError as exc:
            raise ImportError("polygons=True needs scikit-image (pip install "
                              "scikit-image); without it, annotations are RLE") from exc

    images_out, anns = [], []
    class_ids: set[int] = set()
    ann_id = 1
    total = len(source)
    class_iter = _prefetch(classes) if classes is not None else None
    for k, (file_name, mask) in enumerate(_prefetch(source)):
        h, w = (int(s) for s in mask.shape)
        where = file_name if source.keys is not None else f"mask {k}"
        try:
            idx = LabelIndex.build(mask)
        except TypeError as exc:
            raise ValueError(f"{where}: {exc}") from None
        n = len(idx)
        if class_iter is not None:
            _, cls = next(class_iter)
            if cls.shape != mask.shape:
                raise ValueError(f"{where}: class mask has shape {cls.shape}, mask "
                                 f"{mask.shape}")
            cat = _object_classes(cls, idx, where).tolist()
            class_ids.update(cat)
        elif names:
            labels = idx.labels.tolist()
            missing = [v for v in labels if v not in label_class]
            if missing:
                raise ValueError(f"{where}: labels not in categories: "
                                 + ", ".join(map(str, missing[:5])))
            cat = [label_class[v] for v in labels]
        else:
            cat = [1] * n
        image_id = k + 1
        images_out.append({"id": image_id, "file_name": file_name, "height": h,
                           "width": w})
        boxes = idx.bboxes.tolist()
        areas = idx.counts.tolist()
        chars, starts = coco_strings(idx.voxel_indices, idx.offsets, idx.bboxes, h, w)
        text = chars.tobytes().decode("ascii")
        starts = starts.tolist()
        vi, off = idx.voxel_indices, idx.offsets
        for i in range(n):
            (r0, r1), (c0, c1) = boxes[i]
            seg: Any = None
            if polygons:
                crop = np.zeros((r1 - r0, c1 - c0), np.uint8)
                f = vi[off[i]:off[i + 1]].astype(np.int64)
                crop[f // w - r0, f % w - c0] = 1
                seg = _polygons(crop, r0, c0) or None  # none of 3 points or more: RLE
            if seg is None:
                seg = {"size": [h, w], "counts": text[starts[i]:starts[i + 1]]}
            anns.append({"id": ann_id, "image_id": image_id, "category_id": cat[i],
                         "segmentation": seg, "area": areas[i],
                         "bbox": [float(c0), float(r0), float(c1 - c0), float(r1 - r0)],
                         "iscrowd": 0})
            ann_id += 1
        report(progress, k + 1, total)
    if classes is not None:
        cats = [{"id": c, "name": str(c), "supercategory": "object"}
                for c in sorted(class_ids)]
    data = {
        "info": {"description": "instance annotations exported by napari-labelprep"},
        "licenses": [],
        "images": images_out,
        "annotations": anns,
        "categories": cats,
    }
    if out is not None:
        text = json.dumps(data, separators=(",", ":"))
        with atomic_open(Path(out), "wb") as fh:
            fh.write(text.encode("utf-8"))
    return data
