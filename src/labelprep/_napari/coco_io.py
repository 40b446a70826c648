"""napari reader for COCO instance annotations (``*.json`` with ``images`` and
``annotations``), through :func:`labelprep.export.read_coco`.

Each image of the file opens as its instance labels and its class mask (Labels layers),
over the image itself when it is found beside the JSON (its ``file_name`` relative to
the JSON's folder, an ``images/`` folder there, or one beside it). Every other JSON
file is declined (the reader returns None and never raises), so ``*.rle.json`` masks
still open with the RLE reader.

Example (in a script)::

    viewer.open("annotations.json", plugin="napari-labelprep")
"""

from __future__ import annotations

import os
from pathlib import Path


def _paths(path) -> list[str] | None:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    if isinstance(path, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in path):
        return [os.fspath(p) for p in path]
    return None


def get_coco_reader(path):
    """Return :func:`read_coco_layers` if every path is a COCO annotations file, else None."""
    try:
        from labelprep.export import is_coco_file

        paths = _paths(path)
        if paths and all(is_coco_file(p) for p in paths):
            return read_coco_layers
    except Exception:  # noqa: BLE001 - a reader must never raise for foreign files
        return None
    return None


def _find_image(json_path: Path, file_name: str) -> Path | None:
    folder = json_path.parent
    for candidate in (folder / file_name, folder / "images" / file_name,
                      folder.parent / "images" / file_name):
        if candidate.is_file():
            return candidate
    return None


def read_coco_layers(path) -> list[tuple]:
    """Layer data: per image, the image (if found), its instances and its classes."""
    from labelprep import io
    from labelprep.export import read_coco

    layers = []
    for p in _paths(path) or []:
        for info, instances, classes in read_coco(p):
            file_name = str(info.get("file_name", info.get("id")))
            stem = Path(file_name).stem
            found = _find_image(Path(p), file_name)
            if found is not None:
                try:
                    pixels = io.read_image(found)
                except (io.ImageReadError, OSError):
                    pixels = None  # the annotations still open, without their image
                if pixels is not None and pixels.shape[:2] == instances.shape:
                    rgb = pixels.ndim == 3 and pixels.shape[2] in (3, 4)
                    layers.append((pixels, {"name": stem, "rgb": rgb}, "image"))
            meta = {"coco_image": info, "coco_file": str(p)}
            layers.append((instances, {"name": f"{stem} instances", "metadata": meta}, "labels"))
            layers.append((classes, {"name": f"{stem} classes", "metadata": meta,
                                     "visible": False}, "labels"))
    return layers
