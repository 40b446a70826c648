"""docs/images/timelapse.png: a time-lapse Labels layer (t, y, x) in the Voxel index dock:
the table lists every time point, one row per (t, label), sorted by size; the biggest
object was chosen (as a click on its row does), so the time slider moved to its time
point."""

from _stage import voxel_index_dock
from qtpy.QtCore import Qt

from labelprep.samples import cells_3d

OUTPUT = "docs/images/timelapse.png"


def stage(viewer, wait_until):
    image, labels = cells_3d(shape=(12, 256, 256), n_cells=160, seed=4)  # z as time
    viewer.add_image(image, name="movie", axis_labels=("t", "y", "x"))
    layer = viewer.add_labels(labels, name="cells", axis_labels=("t", "y", "x"))
    viewer.dims.set_current_step(0, 0)
    widget = voxel_index_dock(viewer, wait_until, 520, layer=layer)
    wait_until(lambda: widget.timelapse is not None and widget.model.time is not None, 60)
    widget.table.sortByColumn(widget.model.columns.index("voxels"),
                              Qt.SortOrder.DescendingOrder)
    widget.show_selected_check.setChecked(False)  # the other cells around it too
    model = widget.model
    t, label = model.time_at(0), model.label_at(0)
    widget.select_object(t, label)
    wait_until(lambda: widget.frame_t == t, 30)
    widget.table.scrollToTop()
    viewer.reset_view()  # the whole time point, the chosen cell among the others
