"""docs/images/presize.png: the Presize preview dock on the photo2d sample, plus a folder run.

The canvas shows the original photo with the presized mask (size 48, so the blocks are
visible) overlaid at half opacity: the blocks sit exactly on the objects. The dock shows
the output shape, the label loss and the report of a small folder run.
"""

import tempfile
from pathlib import Path

from PIL import Image

from labelprep import samples
from labelprep._commands.demo import PLUGIN

OUTPUT = "docs/images/presize.png"


def _make_folder() -> tuple[Path, Path, Path]:
    root = Path(tempfile.mkdtemp(prefix="presize_shot_"))
    src, masks = root / "photos", root / "masks"
    for i in range(6):
        sub = "train" if i < 4 else "val"
        (src / sub).mkdir(parents=True, exist_ok=True)
        (masks / sub).mkdir(parents=True, exist_ok=True)
        rgb, mask = samples.photo_2d(shape=(960, 1280), seed=i)
        Image.fromarray(rgb).save(src / sub / f"img{i}.jpg", quality=92)
        Image.fromarray(mask).save(masks / sub / f"img{i}.png")
    return root, src, masks


def stage(viewer, wait_until):
    viewer.open_sample(PLUGIN, "photo2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Presize preview")
    widget.size_edit.setText("48")
    widget.method_combo.setCurrentText("mode")
    widget.preview()
    wait_until(lambda: not widget.busy, 60)
    widget.image_result.visible = False
    viewer.layers["photo mask"].visible = False
    widget.mask_result.opacity = 0.55

    root, src, masks = _make_folder()
    widget.src_edit.setText(str(src))
    widget.dst_edit.setText(str(root / "photos_160"))
    widget.masks_edit.setText(str(masks))
    widget.masks_out_edit.setText(str(root / "masks_160"))
    widget.size_edit.setText("160")
    widget.run_folder()
    wait_until(lambda: not widget.busy, 120)
    widget.size_edit.setText("48")  # what the preview shows
    viewer.reset_view()
