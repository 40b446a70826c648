"""docs/images/patches.png: the Patch sampling widget after sampling class-balanced boxes."""

from labelprep._commands.demo import PLUGIN

OUTPUT = "docs/images/patches.png"


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "photo2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch sampling")
    widget.size_spins[1].setValue(48)
    widget.size_spins[2].setValue(48)
    widget.n_spin.setValue(120)
    widget.mode_combo.setCurrentText("class_balanced")
    widget.seed_spin.setValue(0)
    widget.sample_button.click()
    wait_until(lambda: widget.worker is None and widget.origins is not None, 60)
    viewer.layers["photo mask"].visible = False
    viewer.reset_view()
