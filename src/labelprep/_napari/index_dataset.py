"""Dataset exports of the Voxel index dock: per-object crops, COCO annotations, and the
chosen objects as a new Labels layer (issue 19).

A mixin of :class:`~labelprep._napari.index_widget.VoxelIndexWidget`: it uses the dock's
export scope (selected / shown / all objects), its task runner (a worker with a
progress bar; the layer kept out of painting modes while it is read) and io's
output-path checks (never into the file or folder a layer was read from). The work
itself is :mod:`labelprep.export`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import check_output, layer_sources


class DatasetExports:
    """``export_crops``, ``export_coco`` and ``objects_to_layer`` for the Voxel index dock."""

    def crop_image_layer(self):
        """The Image layer the crops are cut from: the only one of the stack's shape."""
        from napari.layers import Image

        if self.layer is None:
            return None
        shape = tuple(self.layer.data.shape)
        found = [layer for layer in self.viewer.layers
                 if isinstance(layer, Image) and tuple(layer.data.shape[:len(shape)]) == shape]
        return found[0] if len(found) == 1 else None

    def _scope_stack(self, scope):
        """(index, labels in scope, the stack as an in-memory array) or None (said why)."""
        target = self._export_target(scope)
        if target is None:
            return None
        data = self.stack_data()
        if not isinstance(data, np.ndarray):
            self.show_message("This export needs the stack in memory (not a lazy layer).",
                              error=True)
            return None
        return (*target, data)

    def export_crops(self, folder, scope: str | None = None, *, pad: int = 0,
                     format: str = "tif"):
        """Crops of the scope's objects (image and mask over each bbox + ``pad``) into
        ``folder`` with a ``crops.csv`` manifest (worker). Returns the worker or None."""
        from labelprep.export import crops
        from labelprep.io import OutputPathError, OutputTree

        found = self._scope_stack(scope)
        if found is None:
            return None
        idx, labels, data = found
        image_layer = self.crop_image_layer()
        try:
            OutputTree(folder, layer_sources(self.layer, image_layer))
        except OutputPathError as exc:
            self.show_message(f"Cannot write: {exc}", error=True)
            return None
        image = None if image_layer is None else np.asarray(image_layer.data)
        if image is not None and self.frame_t is not None:
            image = image[self.frame_t]

        def job(progress):
            return crops(data, idx, image, out=Path(folder), pad=pad, objects=labels,
                         format=format, progress=progress)

        return self.tasks.start(
            job, label="Writing crops", lock=self.layer,
            on_done=lambda out: self.show_message(
                f"Wrote {labels.size} crops to {out}"
                + ("" if image is not None else " (masks only: no image layer of this shape)")),
        )

    def export_coco(self, path, scope: str | None = None):
        """COCO instances JSON of the scope's objects: the layer as one image (2D) or one
        image per slice (3D), annotations as compressed RLE (worker)."""
        from labelprep.export import coco

        found = self._scope_stack(scope)
        if found is None:
            return None
        idx, labels, data = found
        if data.ndim not in (2, 3):
            self.show_message(f"COCO holds 2D images: this layer is {data.ndim}D.", error=True)
            return None
        path = check_output(self, path, self.layer, suffixes=(".json",), what="export to")
        if path is None:
            return None
        every = labels.size == len(idx)

        def job(progress):
            masks = data if every else idx.subset(labels).to_labels()
            coco(masks, out=path, progress=progress)
            return path

        return self.tasks.start(job, label="Writing COCO", lock=self.layer,
                                on_done=lambda out: self.show_message(f"Wrote {out}"))

    def objects_to_layer(self, scope: str | None = None):
        """The scope's objects as a new Labels layer (same scale and translate); returns it."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        layer = self.layer
        with self.layer_combo.keeping_current():  # the dock stays on its layer and index
            scale, translate = self.frame_transform()
            new = self.viewer.add_labels(
                idx.subset(labels).to_labels(), name=f"{layer.name} objects",
                scale=scale, translate=translate,
            )
        self.show_message(f"Added {labels.size} objects as layer '{new.name}'.")
        return new
