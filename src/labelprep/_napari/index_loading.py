"""Loading for the Voxel index dock: which layers can be indexed, and reading a labelled
stack (TIFF, folder of 2D slices, ``.npy``, zarr) and an optional image from disk in a
worker, through :mod:`labelprep.io`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QFileDialog

from ._common import Failure, layer_data, layer_kind
from .index_time import time_axis_of

__all__ = ["LoadActions", "layer_problem"]

def layer_problem(layer) -> str | None:
    """Why ``layer`` cannot be indexed (a sentence for the user), or ``None`` if it can."""
    if layer is None:
        return "No layer: add a Labels layer or load a labelled stack first."
    kind = layer_kind(layer) or type(layer).__name__.lower()
    dtype = np.dtype(getattr(layer_data(layer), "dtype", np.float64))
    if kind != "labels":
        if getattr(layer, "rgb", False):
            return f"Layer '{layer.name}' is an RGB image, not a labelled stack."
        if dtype.kind in "fc":
            return (
                f"Layer '{layer.name}' holds {dtype} data, not integer labels: pick a Labels "
                "layer (the voxel index needs one integer id per object)."
            )
        return (
            f"Layer '{layer.name}' is an Image layer: convert it to Labels first "
            "(right-click the layer > Convert to Labels), then pick it here."
        )
    if dtype.kind not in "biu":
        return f"Layer '{layer.name}' holds {dtype} data, not integer labels."
    try:
        time_axis = time_axis_of(layer)
    except ValueError as exc:
        return str(exc)
    if time_axis is not None:
        if layer.ndim - 1 not in (2, 3):
            return (f"Layer '{layer.name}' is a time series of {layer.ndim - 1}D frames: the "
                    "voxel index needs 2D or 3D frames.")
        return None  # indexed per time point (index_time)
    if layer.ndim > 3:
        return (f"Layer '{layer.name}' has {layer.ndim} dimensions: name its first axis 't' "
                "(layer.axis_labels) to index it per time point, or add one 3D part of it "
                "as its own Labels layer.")
    if layer.ndim < 2:
        return f"Layer '{layer.name}' is {layer.ndim}D: the voxel index needs a 2D or 3D stack."
    return None


#: ``layer.metadata`` key of a colour-coded stack's colour table (row k: id k's colour)
COLOURS_KEY = "labelprep_colours"


#: napari's cyclic label colormaps hold up to this many colours (a texture's size)
CYCLIC_MAX = 65_535


def original_colours(colours: np.ndarray):
    """A napari colormap showing each id in its original colour (row k: id k's colour,
    row 0 the background, transparent).

    Ids are 1..n, so a cyclic colormap of the n + 1 rows maps each id to its own row
    (fast); beyond napari's cyclic limit a direct colormap (one entry per id) is used.

    >>> cmap = original_colours(np.array([[0, 0, 0], [255, 0, 0]], np.uint8))
    >>> cmap.map(np.array([0, 1])).tolist()
    [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
    """
    from napari.utils.colormaps import CyclicLabelColormap, DirectLabelColormap

    rgba = np.ones((len(colours), 4), dtype=np.float32)
    rgba[:, : min(colours.shape[1], 3)] = colours[:, :3] / 255.0
    if colours.shape[1] == 4:
        rgba[:, 3] = colours[:, 3] / 255.0
    rgba[0] = 0.0
    if 2 < len(colours) <= CYCLIC_MAX:
        return CyclicLabelColormap(colors=rgba)
    table = {i: rgba[i] for i in range(1, len(colours))}
    table[0] = np.zeros(4, np.float32)
    table[None] = np.zeros(4, np.float32)  # ids painted later: transparent until rebuilt
    return DirectLabelColormap(color_dict=table)


class LoadActions:
    """Load methods of :class:`~.index_widget.VoxelIndexWidget` (a mixin)."""

    def _wire_load(self) -> None:
        panel = self.load_panel
        panel.open_button.clicked.connect(self._choose_stack_file)
        panel.open_dir_button.clicked.connect(self._choose_stack_folder)
        panel.image_button.clicked.connect(self._choose_image_file)
        panel.load_button.clicked.connect(self._on_load_clicked)

    def _choose_stack_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a labelled stack", "", "Stacks (*.tif *.tiff *.npy);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)

    def _choose_stack_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a folder of 2D label slices, or a zarr / OME-Zarr stack"
        )
        if path:
            self.path_edit.setText(path)

    def _choose_image_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open the grey-level image", "", "Images (*.tif *.tiff *.npy);;All files (*)"
        )
        if path:
            self.image_edit.setText(path)

    def _on_load_clicked(self) -> None:
        self.load_stack(self.path_edit.text().strip(), self.image_edit.text().strip() or None)

    def load_stack(self, path=None, image_path=None):
        """Read a labelled stack (and an optional image) into new layers, in a worker.

        ``path``/``image_path`` default to the text fields. Returns the worker (or None
        if nothing was started: no path or a task already running).
        """
        if path is None:
            path = self.path_edit.text().strip()
        if image_path is None:
            image_path = self.image_edit.text().strip() or None
        if not path:
            self.show_message("Choose a labelled stack first (Open... or Folder...).", error=True)
            return None
        self.path_edit.setText(str(path))
        if image_path:
            self.image_edit.setText(str(image_path))

        def read(path, image_path, progress):
            from labelprep.io import is_zarr_path, open_lazy, read_label_stack, read_stack

            lazy = is_zarr_path(path) or Path(path).suffix.lower() == ".zarr"
            # zarr / OME-Zarr stays lazy (dask): indexed chunk by chunk, never loaded whole;
            # colour-coded slices become ids, their colours kept for the layer
            colours = None
            if lazy:
                labels = open_lazy(path)
            else:
                stack = read_label_stack(path, progress=progress)
                labels, colours = stack.labels, stack.colours
            if labels.dtype.kind not in "biu":
                if (
                    not lazy
                    and labels.dtype.kind == "f"
                    and labels.size
                    and bool(np.all(np.isfinite(labels)) and np.all(np.mod(labels, 1) == 0))
                ):
                    labels = labels.astype(np.int64)
                else:
                    return Failure(
                        f"{path} holds {labels.dtype} values, not integer labels: is it the "
                        "grey-level image? Put it in the Image field instead."
                    )
            if labels.dtype == bool:
                labels = labels.astype(np.uint8)
            if labels.ndim not in (2, 3):
                return Failure(
                    f"{path} has shape {labels.shape}: the voxel index needs a 2D or 3D stack "
                    "(a time series or multichannel stack: save one time point/channel)."
                )
            image = read_stack(image_path, labels=False) if image_path else None
            # the colormap is made here, off the GUI thread (a second for 150k colours)
            colours = None if colours is None else (colours, original_colours(colours))
            return Path(path), labels, image, image_path, colours

        return self.tasks.start(read, path, image_path, on_done=self._on_loaded, label="Reading")

    def _on_loaded(self, result) -> None:
        path, labels, image, image_path, colours = result
        name = path.name.split(".")[0] or path.name
        if image is not None:
            if image.shape[: labels.ndim] != labels.shape and image.shape != labels.shape:
                self.show_message(
                    f"Image shape {image.shape} differs from the labels {labels.shape}; "
                    "shown anyway.",
                )
            image_name = Path(image_path).name.split(".")[0] or Path(image_path).name
            if image_name == name:  # e.g. cells/labels.tif beside cells/labels.npy
                image_name = f"{name} image"
            self.viewer.add_image(image, name=image_name, colormap="gray")
        kwargs = {} if colours is None else {"colormap": colours[1],
                                             "metadata": {COLOURS_KEY: colours[0]}}
        layer = self.viewer.add_labels(labels, name=name, opacity=0.6, **kwargs)
        if not getattr(labels, "flags", None) or not labels.flags.writeable:
            layer.editable = False  # a read-only memory map (.npy): no painting
        self.set_layer(layer)
        coded = "" if colours is None else f", {len(colours[0]) - 1:,} colours -> ids"
        self.show_message(f"Loaded {path.name}: shape {labels.shape}, {labels.dtype}{coded}.")

