"""COCO instance annotations back to instance label images and class masks."""

from __future__ import annotations

import mmap
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io import read_json

__all__ = ["read_coco", "is_coco_file"]

PathLike = str | os.PathLike
#: Files up to this size are parsed whole by :func:`is_coco_file`; larger ones sniffed.
_PARSE_LIMIT = 64 << 20


# ============================================================================ reading
def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _validate(data: Any) -> dict[Any, dict]:
    """Check the structure of a COCO instances dict; return the images by id."""
    if not isinstance(data, dict):
        raise ValueError(f"not a COCO file: the top level is a {type(data).__name__}, "
                         "not an object with 'images' and 'annotations'")
    missing = [key for key in ("images", "annotations") if key not in data]
    if missing:
        raise ValueError(f"not a COCO instances file: missing key(s) "
                         f"{', '.join(map(repr, missing))}")
    for key in ("images", "annotations"):
        if not isinstance(data[key], list):
            raise ValueError(f"not a COCO file: {key!r} must be a list, got "
                             f"{type(data[key]).__name__}")
    if "categories" in data and not isinstance(data["categories"], list):
        raise ValueError("not a COCO file: 'categories' must be a list")
    by_id: dict[Any, dict] = {}
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            raise ValueError(f"images[{k}] is not an object")
        lacking = [key for key in ("id", "height", "width") if key not in img]
        if lacking:
            raise ValueError(f"images[{k}] lacks {', '.join(map(repr, lacking))}")
        if not (_positive_int(img["height"]) and _positive_int(img["width"])):
            raise ValueError(f"images[{k}] (id {img['id']!r}) has a bad size: height "
                             f"{img['height']!r}, width {img['width']!r} (positive "
                             "integers expected)")
        if not isinstance(img["id"], (int, str)) or isinstance(img["id"], bool):
            raise ValueError(f"images[{k}] has a bad id {img['id']!r} (an integer or a "
                             "string expected)")
        if img["id"] in by_id:
            raise ValueError(f"images[{k}]: image id {img['id']!r} is used twice")
        by_id[img["id"]] = img
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}]" + (f" (id {ann['id']!r})" if isinstance(ann, dict)
                                       and "id" in ann else "")
        if not isinstance(ann, dict):
            raise ValueError(f"{where} is not an object")
        lacking = [key for key in ("image_id", "category_id", "segmentation")
                   if key not in ann]
        if lacking:
            raise ValueError(f"{where} lacks {', '.join(map(repr, lacking))}")
        if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in by_id:
            raise ValueError(f"{where} refers to image id {ann['image_id']!r}, which is not "
                             "in 'images'")
        cat = ann["category_id"]
        if not isinstance(cat, int) or isinstance(cat, bool) or cat < 0:
            raise ValueError(f"{where} has a bad category_id {cat!r}")
    return by_id


def _counts(seg: Mapping, shape: tuple[int, int], where: str) -> np.ndarray:
    """The checked run lengths of a COCO RLE (compressed or not) of ``shape``."""
    from .. import rle

    if "size" not in seg or "counts" not in seg:
        raise ValueError(f"{where}: RLE segmentation lacks 'size' or 'counts'")
    size = seg["size"]
    if not isinstance(size, list) or size != list(shape):
        raise ValueError(f"{where}: RLE size {size!r} does not match its image "
                         f"[height, width] {list(shape)}")
    raw = seg["counts"]
    try:
        if isinstance(raw, (str, bytes)):
            counts = rle._decode_string(raw, "counts", delta=True)
        else:
            counts = rle._int_array(raw, "counts")
        return rle._check_counts(counts, shape[0] * shape[1], "counts", shape)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _polygon_counts(seg: list, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise ImportError(f"{where} is a polygon: rasterising polygons needs pycocotools "
                          "(pip install pycocotools)") from None
    for poly in seg:
        if (not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2
                or not all(isinstance(v, (int, float)) for v in poly)):
            raise ValueError(f"{where}: a polygon must be a flat list of at least 3 x, y "
                             "pairs")
    merged = mask_utils.merge(mask_utils.frPyObjects(seg, shape[0], shape[1]))
    return _counts(merged, shape, where)


def read_coco(path: PathLike | Mapping) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Instance label images and class masks of a COCO instances file.

    Parameters
    ----------
    path : path or dict
        A COCO JSON file (or its parsed content).

    Returns
    -------
    list of (image_info, labels, classes)
        Per entry of ``images``, in the file's order: the entry itself (a dict with
        ``id``, ``file_name``, ``height``, ``width``, ...), the instance label image
        (uint16, uint32 beyond 65535 annotations; label k is the image's k-th
        annotation in the file) and the class mask (each annotation's
        ``category_id`` on its pixels; the smallest unsigned dtype that holds them).
        Where annotations overlap, the later one wins. RLE (compressed or not) is
        decoded by :mod:`labelprep.rle`, polygons rasterised by pycocotools.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Not readable JSON (an :class:`~labelprep.io.ImageReadError` naming the file,
        and the line and column of malformed JSON), not a COCO instances file (a
        message naming what is missing or wrong: keys, image sizes, an RLE of the
        wrong size, an unknown image id).
    ImportError
        The file holds polygons and pycocotools is not installed.

    Examples
    --------
    >>> from labelprep.export import coco
    >>> data = coco(np.array([[0, 5, 5], [0, 5, 0]], np.uint16))
    >>> info, labels, classes = read_coco(data)[0]
    >>> labels.tolist()
    [[0, 1, 1], [0, 1, 0]]
    """
    from .._kernels.export import paint_runs

    if isinstance(path, Mapping):
        data, name = dict(path), "COCO data"
    else:
        name = str(path)
        data = read_json(path, what="COCO annotations")
    try:
        by_id = _validate(data)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    per_image: dict[Any, list[tuple[int, dict]]] = {i: [] for i in by_id}
    for k, ann in enumerate(data["annotations"]):
        per_image[ann["image_id"]].append((k, ann))
    result = []
    for img in data["images"]:
        anns = per_image[img["id"]]
        shape = (img["height"], img["width"])
        ldtype = np.uint16 if len(anns) <= 65535 else np.uint32
        cmax = max((a["category_id"] for _, a in anns), default=0)
        cdtype = np.uint8 if cmax <= 255 else np.uint16 if cmax <= 65535 else np.uint32
        labels = np.zeros(shape, ldtype, order="F")
        classes = np.zeros(shape, cdtype, order="F")
        lflat, cflat = labels.reshape(-1, order="F"), classes.reshape(-1, order="F")
        for label, (k, ann) in enumerate(anns, start=1):
            where = f"{name}: annotations[{k}]"
            seg = ann["segmentation"]
            if isinstance(seg, Mapping):
                counts = _counts(seg, shape, where)
            elif isinstance(seg, list):
                if not seg:
                    continue
                counts = _polygon_counts(seg, shape, where)
            else:
                raise ValueError(f"{where}: segmentation must be an RLE object or a list "
                                 f"of polygons, got {type(seg).__name__}")
            paint_runs(lflat, counts, label)
            paint_runs(cflat, counts, ann["category_id"])
        result.append((img, np.ascontiguousarray(labels), np.ascontiguousarray(classes)))
    return result


def is_coco_file(path: PathLike) -> bool:
    """True if ``path`` is a JSON file of COCO annotations (never raises).

    Files up to 64 MiB are parsed and must be an object with ``images`` and
    ``annotations`` lists; larger ones must start with ``{`` and contain both keys.
    """
    try:
        p = Path(path)
        if p.suffix.lower() != ".json" or not p.is_file():
            return False
        size = p.stat().st_size
        if size <= _PARSE_LIMIT:
            data = read_json(p)
            return (isinstance(data, dict) and isinstance(data.get("images"), list)
                    and isinstance(data.get("annotations"), list))
        with open(p, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            head = m[:4096].lstrip()
            return (head.startswith(b"{") and m.find(b'"images"') >= 0
                    and m.find(b'"annotations"') >= 0)
    except Exception:  # noqa: BLE001 - a reader check must never raise
        return False
