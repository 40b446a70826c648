"""The Patch sampling dock's Qt-free model: settings, checks, sampler arguments, results."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from labelprep import patches
from labelprep._napari.patches_model import (
    BORDER_CHOICES,
    TABLE_ROWS,
    PatchesDockModel,
    parse_weights,
    rectangles,
)


@pytest.fixture
def mask():
    m = np.zeros((40, 40), np.uint8)
    m[5:20, 5:20] = 1
    m[25:35, 25:35] = 2
    return m


def test_defaults_match_the_dock():
    model = PatchesDockModel()
    assert model.patch_size == (16, 64, 64) and model.n == 200 and model.seed == 0
    assert model.mode == "uniform" and model.border == "valid (full patches only)"
    assert not model.weights_enabled and not model.has_result and model.export_path is None


def test_update_signals_each_change_once():
    model = PatchesDockModel()
    seen = []
    model.settings_changed.connect(seen.append)
    model.update(n=5, seed=3)
    model.update(n=5)  # unchanged: no signal
    model.set_patch_axis(1, 32)
    model.update(mode="class_balanced")
    assert seen == ["n", "seed", "patch_size", "mode"]
    assert model.patch_size == (16, 32, 64) and model.weights_enabled


@pytest.mark.parametrize(
    "change,message",
    [
        ({"n": 0}, "the number of patches must be an integer from 1"),
        ({"n": 2.5}, "the number of patches must be an integer"),
        ({"seed": -1}, "the seed must be an integer from 0"),
        ({"patch_size": (1, 2)}, "patch_size needs 3 values"),
        ({"patch_size": (1, 0, 4)}, "each patch size must be an integer from 1"),
        ({"mode": "random"}, "mode must be one of uniform, foreground, class_balanced"),
        ({"border": "wrap"}, "border must be one of"),
        ({"weights_text": 3}, "weights_text must be text"),
        ({"colour": "red"}, "no setting 'colour'"),
    ],
)
def test_bad_settings_are_refused_with_a_message(change, message):
    model = PatchesDockModel()
    seen = []
    model.settings_changed.connect(seen.append)
    before = vars(model).copy()
    with pytest.raises(ValueError, match=message):
        model.update(**{"n": 7, "seed": 9, **change})  # all or nothing
    assert vars(model) == before and seen == []


def test_ndim_signal_and_three_d():
    model = PatchesDockModel()
    seen = []
    model.ndim_changed.connect(seen.append)
    model.set_image_ndim(3)
    model.set_image_ndim(3)
    model.set_image_ndim(2)
    assert seen == [3, 2] and not model.three_d


def test_parse_weights():
    assert parse_weights("0=0, 1=1; 2=3") == {0: 0.0, 1: 1.0, 2: 3.0}
    assert parse_weights("") is None
    with pytest.raises(ValueError, match="class weights must look like"):
        parse_weights("a=b")


def test_resolve_checks_image_mask_and_mode(mask):
    model = PatchesDockModel()
    image = np.zeros((40, 40, 3))
    with pytest.raises(ValueError, match="add an image layer first"):
        model.resolve(None)
    with pytest.raises(ValueError, match="'v' is 4D; only 2D and 3D"):
        model.resolve("v", np.zeros((2, 2, 2, 2)), 4)
    with pytest.raises(ValueError, match=r"mask 'm' has shape \(40, 40\) but image 'i' has "
                                         r"\(40, 41\)"):
        model.resolve("i", np.zeros((40, 41)), 2, "m", mask)
    model.update(mode="foreground")
    with pytest.raises(ValueError, match='mode "foreground" needs a mask'):
        model.resolve("i", image, 2)
    model.update(mode="class_balanced", weights_text="x")
    with pytest.raises(ValueError, match="class weights must look like"):
        model.resolve("i", image, 2, "m", mask)


def test_resolve_and_sampler_kwargs(mask):
    model = PatchesDockModel()
    model.update(patch_size=(4, 8, 6), n=9, mode="class_balanced", weights_text="1=2",
                 seed=11, border="pad by reflection")
    s = model.resolve("i", np.zeros((40, 40, 3)), 2, "m", mask)
    assert s["patch_size"] == (8, 6) and s["class_weights"] == {1: 2.0}
    assert (s["border"], s["pad_mode"]) == BORDER_CHOICES["pad by reflection"]
    kw = model.sampler_kwargs(s)
    assert kw["replace_every"] == 9 and kw["cache_size"] == 1 and kw["prefetch"] is False
    assert kw["masks"][0] is mask and kw["seed"] == 11
    model.update(mode="uniform")  # weights only for class_balanced
    assert model.resolve("i", np.zeros((40, 40)), 2)["class_weights"] is None
    assert model.resolve("i", np.zeros((5, 40, 40)), 3)["patch_size"] == (4, 8, 6)


def test_make_sampler_draws_like_a_sampler_of_the_same_arguments(mask):
    model = PatchesDockModel()
    model.update(patch_size=(1, 8, 8), n=20, mode="foreground", seed=4)
    s = model.resolve("i", np.zeros((40, 40)), 2, "m", mask)
    with model.make_sampler(s) as sampler:
        got = sampler.sample_origins(20)
    with patches.PatchSampler([s["data"]], [mask], (8, 8), cache_size=1, replace_every=20,
                              mode="foreground", seed=4, prefetch=False) as ref:
        np.testing.assert_array_equal(got, ref.sample_origins(20))
    model.update(patch_size=(1, 64, 64))
    with pytest.raises(ValueError, match="smaller than the patch"):
        model.make_sampler(model.resolve("i", np.zeros((40, 40)), 2, "m", mask))


def test_set_result_table_and_summary():
    model = PatchesDockModel()
    seen = []
    model.result_changed.connect(lambda: seen.append(model.has_result))
    settings = {"patch_size": (4, 4), "mode": "uniform", "seed": 2}
    origins = np.array([[0, 0, 0], [0, 2, 2], [0, 4, 4], [0, 1, 1]])
    centre = np.array([0, 1, 1, 3])
    model.set_result(settings, origins, centre, (np.array([0, 1, 2]), np.array([.5, .25, .25])))
    assert seen == [True]
    assert model.requested_ratio == {0: 0.5, 1: 0.25, 2: 0.25}
    assert model.drawn_ratio == {0: 0.25, 1: 0.5, 3: 0.25}
    assert model.table_rows == [("0", .5, .25), ("1", .25, .5), ("2", .25, 0.0),
                                ("3", 0.0, .25)]
    cov = np.zeros((10, 10), int)
    cov[:5] = 2
    assert model.summary(cov, " note.") == (
        "4 patches of 4 x 4 (uniform, seed 2); they cover 50.0% of the image, at most 2 "
        "times. note.")
    model.clear_result()
    assert seen == [True, False] and model.table_rows == [] and model.drawn_ratio is None


def test_table_sums_up_the_classes_beyond_its_rows():
    model = PatchesDockModel()
    k = TABLE_ROWS + 3
    centre = np.arange(k)
    model.set_result({"patch_size": (2, 2)}, np.zeros((k, 3), int), centre,
                     (centre, np.full(k, 1 / k)))
    assert len(model.table_rows) == TABLE_ROWS + 1
    label, want, got = model.table_rows[-1]
    assert label == "3 more" and want == pytest.approx(3 / k) and got == pytest.approx(3 / k)
    model.set_result({"patch_size": (2, 2)}, np.zeros((k, 3), int), None, None)  # no mask
    assert model.table_rows == [] and model.requested_ratio is None


def test_write_csv(tmp_path):
    model = PatchesDockModel()
    with pytest.raises(ValueError, match="press Sample first"):
        model.write_csv(tmp_path / "x.csv", "img")
    origins = np.array([[0, 1, 2, 3], [0, 4, 5, 6]])
    model.set_result({"patch_size": (2, 3, 4)}, origins, np.array([7, 0]), None)
    path = model.write_csv(tmp_path / "sub" / "o.csv", "img")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["patch", "source", "z", "y", "x", "size_z", "size_y", "size_x",
                       "centre_class"]
    assert rows[1:] == [["0", "img", "1", "2", "3", "2", "3", "4", "7"],
                        ["1", "img", "4", "5", "6", "2", "3", "4", "0"]]
    model.set_result({"patch_size": (2, 3)}, origins[:, :3], None, None)
    assert model.csv_header() == ["patch", "source", "y", "x", "size_y", "size_x"]


def test_rectangles_2d_on_pixel_edges():
    verts, rep, note = rectangles(np.array([[2, 3]]), (4, 5), (20, 20), 100)
    assert note == "" and rep.tolist() == [0]
    np.testing.assert_allclose(verts[0], [[1.5, 2.5], [1.5, 7.5], [5.5, 7.5], [5.5, 2.5]])


def test_rectangles_3d_every_slice_then_centre_slice_then_capped():
    corners = np.array([[0, 0, 0], [8, 4, 4]])
    verts, rep, note = rectangles(corners, (3, 4, 4), (10, 20, 20), 100)
    assert rep.tolist() == [0, 0, 0, 1, 1] and note == ""
    assert verts[:, 0, 0].tolist() == [0, 1, 2, 8, 9]  # clipped at the last slice
    verts, rep, note = rectangles(corners, (3, 4, 4), (10, 20, 20), 4)
    assert rep.tolist() == [0, 1] and verts[:, 0, 0].tolist() == [1, 9]
    assert "centre slice only" in note
    verts, rep, note = rectangles(corners, (3, 4, 4), (10, 20, 20), 1)
    assert rep.tolist() == [0] and "Only the first 1 boxes" in note
