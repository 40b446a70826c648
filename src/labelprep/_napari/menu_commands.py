"""Commands in napari's *Layers > Measure* menu, for the selected Labels layer.

napari calls a menu command with its arguments injected by type annotation (app-model's
providers): ``napari.viewer.Viewer`` is the current viewer and ``napari.layers.Layer``
the active layer of its layer list. The manifest enables both commands only when that
layer is a Labels layer (``enablement: active_layer_type == 'labels'``); they check it
again, since a command can also be run from the command palette or a script.

- :func:`index_objects` docks the *Voxel index* widget on the layer and builds the index
  (in the dock's worker, with its progress bar).
- :func:`measure_objects` measures every object (``labelprep.measure``: area, centroid,
  bounding box, extent, equivalent diameter, in the layer's scale) into the layer's
  ``features``, so the status bar shows an object's measurements on hover, and docks
  napari's features table when this napari has one.
"""

from __future__ import annotations

import contextlib

from napari.layers import Labels, Layer
from napari.utils import progress
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from ._common import layer_data, unwrap
from .index_io import features_for

__all__ = ["MEASURE_PROPERTIES", "index_objects", "measure_objects"]

PLUGIN = "napari-labelprep"
#: the columns :func:`measure_objects` puts in the layer's features (after ``label``)
MEASURE_PROPERTIES = ("area", "centroid", "bbox", "extent", "equivalent_diameter_area")
#: napari's own features table (napari >= 0.6): docked after measuring when present
FEATURES_TABLE = ("napari", "Features table widget")


def _labels_layer(layer: Layer | None, what: str) -> Labels | None:
    layer = unwrap(layer) if layer is not None else None
    if isinstance(layer, Labels):
        return layer
    name = f"'{layer.name}' is not a Labels layer" if layer is not None else "no layer"
    show_warning(f"Label Prep: {what} needs a selected Labels layer ({name}).")
    return None


def index_objects(viewer: Viewer, layer: Layer | None = None):
    """Dock the *Voxel index* widget on the selected Labels layer and index it.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer (injected by napari).
    layer : napari.layers.Layer, optional
        The layer to index (napari injects the active layer).

    Returns
    -------
    VoxelIndexWidget or None
        The dock's widget, building in its worker; ``None`` if ``layer`` is not a Labels
        layer (a warning says so). An index that is already current is kept.
    """
    labels = _labels_layer(layer, "Voxel index")
    if labels is None:
        return None
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Voxel index")
    widget = unwrap(widget)
    dock.show()
    dock.raise_()
    current = widget.layer is labels and widget.index is not None and not widget.stale
    if widget.layer is not labels:
        widget.set_layer(labels)
    if not current and not widget.busy:
        widget.build_index()
    return widget


def measure_objects(viewer: Viewer, layer: Layer | None = None):
    """Measure every object of the selected Labels layer into its ``features``.

    One row per object, labels ascending: ``label``, then :data:`MEASURE_PROPERTIES` as
    :func:`labelprep.measure.measure` computes them with the layer's ``scale`` as the
    voxel spacing (``area`` and ``centroid`` physical, relative to the data origin;
    ``bbox`` in voxels), plus napari's ``index`` column. Runs in the calling (GUI)
    thread with a progress bar in napari's activity dock.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer (injected by napari).
    layer : napari.layers.Layer, optional
        The layer to measure (napari injects the active layer).

    Returns
    -------
    pandas.DataFrame or None
        The layer's new features; ``None`` if ``layer`` is not a Labels layer.
    """
    from labelprep import LabelIndex
    from labelprep.measure import measure

    labels = _labels_layer(layer, "Measure objects")
    if labels is None:
        return None
    background = int(getattr(labels.colormap, "background_value", 0))
    with progress(total=0, desc=f"Label Prep: measuring '{labels.name}'") as bar:

        def report(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        index = LabelIndex.build(layer_data(labels), background=background, progress=report)
        table = measure(index, spacing=tuple(float(s) for s in labels.scale),
                        properties=MEASURE_PROPERTIES)
    from .index_model import merge_features

    # other plugins' columns are kept (merged on label); ours are replaced
    features = merge_features(labels.features, features_for(table), table.columns)
    labels.features = features
    show_info(f"Label Prep: measured {len(table)} objects of '{labels.name}' "
              "into its features.")
    with contextlib.suppress(KeyError, ValueError):  # no features table in this napari
        viewer.window.add_plugin_dock_widget(*FEATURES_TABLE)
    return features
