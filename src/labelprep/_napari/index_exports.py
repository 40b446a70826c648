"""Exports of the Voxel index dock: coordinates and table CSVs, the index ``.npz``, and
voxels or centroids as Points layers, for the selected / shown / all objects.

A mixin of :class:`~labelprep._napari.index_widget.VoxelIndexWidget` (the dataset
exports, crops and COCO, are :mod:`.index_dataset`'s). Each file goes through io's
output-path check and atomic writers, in the dock's worker.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QFileDialog

from labelprep.io import atomic_open

from ._common import check_output
from .index_panels import SCOPES

__all__ = ["ObjectExports"]


class ObjectExports:
    """Export methods of the Voxel index dock."""

    def export_labels(self, scope: str | None = None) -> np.ndarray:
        """Label ids an export covers: ``selected`` (the dock's selection: table rows,
        clicks, shift-clicks; empty when nothing is selected), ``shown`` (rows passing
        the size filter) or ``all``."""
        if self.index is None:
            return np.zeros(0, dtype=np.int64)
        scope = scope or self.export_scope.currentData()
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        if scope == "all":
            return np.asarray(self.index.labels)
        if scope == "shown":
            return self.model.visible_labels()
        return np.array(sorted(self.selected_labels), dtype=np.asarray(self.index.labels).dtype)

    def _export_target(self, scope):
        """(index, labels) to export, or None with a message if there is nothing."""
        if self.index is None:
            self.show_message("Build the index first.", error=True)
            return None
        labels = self.export_labels(scope)
        if labels.size == 0:
            self.show_message("Nothing to export: no object is selected (select an object "
                              "by clicking it, or pick rows in the table).", error=True)
            return None
        return self.index, labels

    def _export_clicked(self, kind: str) -> None:
        filters = {
            "coords": ("Save voxel coordinates", "coords.csv", "CSV (*.csv)"),
            "npz": ("Save the index", "objects.npz", "LabelIndex (*.npz)"),
            "table": ("Save the object table", "objects.csv", "CSV (*.csv)"),
        }
        title, default, pattern = filters[kind]
        path, _ = QFileDialog.getSaveFileName(self, title, default, pattern)
        if path:
            {
                "coords": self.export_coords_csv,
                "npz": self.export_npz,
                "table": self.export_table_csv,
            }[kind](path)

    def _crops_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the crops")
        if folder:
            self.export_crops(folder)

    def _coco_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save COCO annotations", "annotations.json",
                                              "COCO JSON (*.json)")
        if path:
            self.export_coco(path)

    def _run_export(self, what: str, path, scope, write):
        """Write the scope's objects with ``write(idx, labels, path, progress)`` (worker)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        path = check_output(self, path, self.layer, what="export to")
        if path is None:
            return None

        def job(progress):
            write(idx, labels, path, progress)
            return path

        return self.tasks.start(
            job,
            on_done=lambda result: self.show_message(f"Wrote {what} to {result}."),
            label=f"Writing {what}",
        )

    def export_coords_csv(self, path, scope: str | None = None):
        """CSV of voxel coordinates (``label,z,y,x``) of the scope's objects (worker); in
        world units with "physical units in CSVs" ticked."""

        physical = self.physical_units()

        def write(idx, labels, path, progress):
            if physical:
                self.write_physical_coords(idx, labels, path, progress)
                return
            every = labels.size == len(idx)
            idx.write_coords_csv(path, labels=None if every else labels, progress=progress)

        return self._run_export("coordinates", path, scope, write)

    def export_npz(self, path, scope: str | None = None):
        """The index of the scope's objects as ``.npz`` (``LabelIndex.save``; worker)."""

        def write(idx, labels, path, progress):
            every = labels.size == len(idx)
            (idx if every else idx.subset(labels)).save(path)

        return self._run_export("index", path, scope, write)

    def export_table_csv(self, path, scope: str | None = None):
        """The object table of the scope's objects, in the table's sort order (worker)."""
        frame = self.model.frame
        if self.physical_units():
            frame = self.physical_table(frame)
        order = self.model.display_labels()

        def write(idx, labels, path, progress):
            keep = np.isin(order, labels)
            rows = np.r_[order[keep], np.setdiff1d(labels, order[keep])]  # hidden rows last
            positions = np.searchsorted(np.asarray(idx.labels), rows)
            with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
                frame.iloc[positions].reset_index(drop=True).to_csv(fh, index=False)

        return self._run_export("table", path, scope, write)

    def _points_kwargs(self, name: str) -> dict:
        layer = self.layer
        return {
            "name": name,
            "scale": layer.scale,
            "translate": layer.translate,
            "rotate": layer.rotate,
            "shear": layer.shear,
        }

    def send_voxels_to_points(self, scope: str | None = None):
        """Add the voxels of the scope's objects as a Points layer (one point per voxel)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        counts = np.asarray(idx.counts)[np.searchsorted(np.asarray(idx.labels), labels)]
        total = int(counts.sum())
        if total > self.max_points:
            self.show_message(
                f"{total:,} voxels is too many points for napari (limit {self.max_points:,}): "
                "export a coordinates CSV instead.",
                error=True,
            )
            return None
        coords = self._with_t(np.concatenate([idx.coords(L) for L in labels]))
        ids = np.repeat(labels, counts)
        name = f"label {labels[0]} voxels" if labels.size == 1 else f"{labels.size} objects voxels"
        kwargs = self._points_kwargs(name)
        # each voxel in its object's colour (the colormap itself: get_color would hide
        # unselected labels while "show selected only" is on)
        colours = np.asarray(self.layer.colormap.map(ids), dtype=np.float32)
        kwargs.update(features={"label": ids}, size=1, border_width=0, face_color=colours)
        out = self.viewer.add_points(coords, **kwargs)
        self.show_message(f"Added {total:,} voxels as Points layer '{out.name}'.")
        return out

    def send_centroids_to_points(self, scope: str | None = None):
        """Add the centroids of the scope's objects as a Points layer (with their stats)."""
        target = self._export_target(scope)
        if target is None:
            return None
        idx, labels = target
        positions = np.searchsorted(np.asarray(idx.labels), labels)
        centroids = self._with_t(np.asarray(idx.centroids)[positions])
        name = f"label {labels[0]} centroid" if labels.size == 1 else f"{labels.size} centroids"
        kwargs = self._points_kwargs(name)
        features = self.model.frame.iloc[positions].reset_index(drop=True)
        kwargs.update(
            features=features,
            size=max(2.0, float(self.zoom_min_extent) / 2),
            face_color="yellow",
            border_color="black",
        )
        out = self.viewer.add_points(centroids, **kwargs)
        self.show_message(f"Added {labels.size:,} centroids as Points layer '{out.name}'.")
        return out
