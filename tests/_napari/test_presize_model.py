"""The Presize dock's Qt-free model: settings and their checks, preview, report, cancel."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from labelprep import presize
from labelprep._napari.presize_model import (
    Cancelled,
    PresizeDockModel,
    compute_preview,
    image_problem,
    mask_problem,
    overlay_transform,
)
from labelprep.presize import _run as presize_run


@pytest.fixture
def model():
    return PresizeDockModel(workers=1)


def test_defaults_and_settings_dict():
    m = PresizeDockModel()
    s = m.settings()
    assert s["size_text"] == "160" and s["method"] == "nearest" and s["upscale"] is False
    assert s["src"] == s["dst"] == s["masks"] == s["masks_out"] == ""
    assert 1 <= s["workers"] <= m.max_workers and s["overwrite"] is False
    assert m.preview is None and m.report is None and m.lost_labels is None
    assert not m.cancelling


def test_set_emits_once_per_changed_setting(model):
    seen = []
    model.settings_changed.connect(lambda name, value: seen.append((name, value)))
    model.set(size_text="120 160", method="mode", upscale=False)  # upscale unchanged
    assert seen == [("size_text", "120 160"), ("method", "mode")]
    model.set(method="mode")
    assert len(seen) == 2
    model.set(src=Path("/data/in"), workers=np.int64(1))
    assert model.src == "/data/in" and isinstance(model.src, str)
    assert seen[-1] == ("src", "/data/in") and len(seen) == 3  # workers was already 1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "bicubic"}, "mask method must be one of 'nearest', 'mode'"),
        ({"workers": 0}, "workers must be between 1 and"),
        ({"workers": 10**6}, "workers must be between 1 and"),
        ({"workers": 2.5}, "workers must be a whole number"),
        ({"workers": True}, "workers must be a whole number"),
        ({"upscale": "yes"}, "upscale must be a bool"),
        ({"size_text": 160}, "size_text must be a str"),
        ({"colour": "red"}, "unknown presize setting 'colour'"),
    ],
)
def test_bad_settings_are_refused_with_a_message_and_change_nothing(model, changes, match):
    before, seen = model.settings(), []
    model.settings_changed.connect(lambda *a: seen.append(a))
    with pytest.raises(ValueError, match=match):
        model.set(dst="/elsewhere", **changes)  # the good change is not applied either
    assert model.settings() == before and seen == []


def test_preview_settings_parse_and_check_the_size(model):
    assert model.preview_settings() == (160, "nearest", False)
    model.set(size_text="120x160", method="mode", upscale=True)
    assert model.preview_settings() == ((120, 160), "mode", True)
    for bad in ("", "big", "0", "1 2 3"):
        model.set(size_text=bad)
        with pytest.raises(ValueError, match="size must be one positive number"):
            model.preview_settings()


def test_layer_problems_name_the_layer_and_the_fix():
    assert "No image layer" in image_problem(None, None)
    assert "'lab' is a labels layer: pick an Image layer" in image_problem("lab", "labels")
    assert "'stack' is 3D" in image_problem("stack", "image", 3)
    assert image_problem("photo", "image", 2) is None
    assert mask_problem(None, None) is None
    assert "pick a Labels layer as mask" in mask_problem("img", "image")
    msg = mask_problem("m", "labels", (10, 10), (480, 640))
    assert "(10, 10)" in msg and "(480, 640)" in msg and "pixel for pixel" in msg
    assert mask_problem("m", "labels", (480, 640), (480, 640)) is None


def test_overlay_transform_centres_output_pixels_on_their_samples():
    layer = SimpleNamespace(scale=(0.5, 2.0), translate=(10.0, -5.0))
    scale, translate = overlay_transform(layer, (480, 640), (120, 160))
    np.testing.assert_allclose(scale, [2.0, 8.0])
    np.testing.assert_allclose(translate, [10.75, -2.0])  # input position 1.5 in world


def test_compute_preview_and_its_texts(model):
    mask = np.zeros((40, 60), np.int32)
    mask[:20, :30] = 1
    mask[20:, 30:] = 2
    mask[5, 5] = 9  # one pixel: vanishes at 1/4
    img = np.arange(40 * 60, dtype=np.uint16).reshape(40, 60)
    seen = []
    model.preview_changed.connect(seen.append)
    model.set(size_text="10")
    p = compute_preview(img, mask, *model.preview_settings())
    model.set_preview(p)
    assert seen == [p] and model.preview is p
    assert p.in_shape == (40, 60) and p.out_shape == (10, 15) and p.image.shape == (10, 15)
    np.testing.assert_array_equal(p.mask, presize.mask(mask, 10))
    assert model.lost_labels.tolist() == [9] and p.n_labels == 4
    assert p.shape_text() == "Output: 10 x 15 (from 40 x 60, 1/4 per side)"
    assert p.loss_text() == "Label loss: 1 of 4 labels vanish: 9"
    # no mask; already small enough
    q = compute_preview(img[:8, :9], None, 160)
    assert q.lost is None and q.loss_text() == "Label loss: - (no mask)"
    assert "unchanged" in q.shape_text()
    assert compute_preview(mask, mask, 40).loss_text() == "Label loss: none (4 labels kept)"
    model.set_preview(None)
    assert seen[-1] is None and model.lost_labels is None


def test_loss_text_lists_the_first_twenty_ids():
    mask = np.zeros((100, 100), np.int32)
    ids = np.arange(1, 26)
    mask.flat[ids * 397] = ids  # 25 lone pixels, all lost at 1/10
    text = compute_preview(mask, mask, 10).loss_text()
    assert text.startswith("Label loss: 25 of 26 labels vanish: 1, 2, 3")
    assert text.endswith("19, 20, ...")


def test_folder_job_requires_folders_and_checks_them(model, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(ValueError, match="source folder and a destination folder"):
        model.folder_job()
    model.set(src=str(src), dst=str(src / "small"))
    with pytest.raises(ValueError, match="inside"):
        model.folder_job()
    (tmp_path / "masks").mkdir()
    model.set(dst=str(tmp_path / "out"), masks=str(tmp_path / "masks"))
    with pytest.raises(ValueError, match="masks_out"):
        model.folder_job()
    model.set(masks="  ", size_text="nope")
    with pytest.raises(ValueError, match="size"):
        model.folder_job()
    model.set(size_text="50 60", method="mode", overwrite=True, dst=f" {tmp_path / 'out'} ")
    job = model.folder_job()
    assert (job.src, job.dst, job.size) == (str(src), str(tmp_path / "out"), (50, 60))
    assert job.masks is None and job.masks_out is None
    assert (job.method, job.overwrite, job.workers, job.upscale) == ("mode", True, 1, False)
    assert not (tmp_path / "out").exists()  # checking writes nothing


@pytest.fixture
def images(tmp_path, photo):
    rgb, _ = photo
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        Image.fromarray(rgb[::4, ::4]).save(src / f"{i}.png")
    (src / "broken.png").write_bytes(b"not an image")
    return src


def test_run_folder_report_lines_and_message(model, tmp_path, images):
    reports, seen = [], []
    model.report_changed.connect(reports.append)
    model.set(src=str(images), dst=str(tmp_path / "out"), size_text="40")
    model.start_run()
    rep = model.run_folder(model.folder_job(), lambda done, total: seen.append((done, total)))
    assert rep.written == 4 and len(rep.failed) == 1 and seen[-1] == (5, 5)
    model.set_report(rep)
    assert reports == [None, rep] and model.report is rep
    lines = model.failure_lines()
    assert len(lines) == 1 and "broken.png" in lines[0]
    assert model.report_message() == ("1 file(s) failed: see the list.", True)
    model.set_report(presize.FolderReport())
    assert model.report_message() == ("No image files found in the source folder.", True)
    assert model.failure_lines() == []
    done = presize.FolderReport(written=1, results=rep.results[:1], missing_masks=[Path("a.png")])
    model.set_report(done)
    assert model.report_message() == ("Done.", False)
    assert model.failure_lines() == ["a.png: no mask (presized alone)"]
    model.start_run()
    assert model.report is None and model.report_message() == ("", False)


def test_cancel_stops_the_run_and_start_run_resets_it(model, tmp_path, images, monkeypatch):
    flags = []
    model.cancelling_changed.connect(flags.append)
    slow = presize_run._run_job

    def slow_job(job):
        time.sleep(0.02)
        return slow(job)

    monkeypatch.setattr(presize_run, "_run_job", slow_job)
    model.set(src=str(images), dst=str(tmp_path / "out"), size_text="40")
    done = []

    def progress(n, total):
        done.append(n)
        if n >= 1:
            model.set_cancelling(True)

    with pytest.raises(Cancelled):
        model.run_folder(model.folder_job(), progress)
    assert model.cancelling and flags == [True] and 1 <= max(done) < 5
    model.set_cancelling(True)  # unchanged: no signal
    model.start_run()
    assert not model.cancelling and flags == [True, False]
