"""docs/images/rle.png: the "RLE masks" dock after encoding the photo's mask, decoding the
encoding into a new layer and checking the round trip."""

PLUGIN = "napari-labelprep"
OUTPUT = "docs/images/rle.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "photo2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "RLE masks")
    widget.encode()
    wait_until(lambda: widget.worker is None and widget.last is not None, 60)
    widget.decode_last()
    wait_until(lambda: widget.worker is None and "photo mask decoded" in viewer.layers, 60)
    viewer.layers["photo mask"].visible = False
    widget.set_layer(viewer.layers["photo mask"])
    widget.round_trip_check()
    wait_until(lambda: widget.worker is None and widget.check_result != "", 60)
