"""``labelprep measure`` through the real command line (labelprep.cli.main)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelprep import LabelIndex
from labelprep.cli import main
from labelprep.measure import measure

from .test_cli_index_colour import expected_ids, save


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    labels = np.zeros((5, 30, 40), np.uint16)
    for label in range(1, 25):
        z, y, x = rng.integers(0, (4, 25, 34))
        labels[z:z + 2, y:y + 5, x:x + 6] = label
    image = rng.random(labels.shape).astype(np.float32)
    return labels, image


def test_csv_equals_measure_with_image_and_spacing(tmp_path, data, capsys):
    labels, image = data
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    np.save(tmp_path / "image.npy", image)
    out = tmp_path / "objects.csv"
    code = main(["measure", str(tmp_path / "labels.tif"), "--image", str(tmp_path / "image.npy"),
                 "--spacing", "2", "0.5", "0.5", "--csv", str(out), "--quiet"])
    assert code == 0
    got = pd.read_csv(out)
    want = measure(LabelIndex.build(labels), image, spacing=(2, 0.5, 0.5))
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-12)
    assert "measured" in capsys.readouterr().out


def test_time_axis_gives_a_t_column(tmp_path, data):
    labels, _ = data
    np.save(tmp_path / "tl.npy", labels)  # 5 time points of 30 x 40
    out = tmp_path / "tl.csv"
    assert main(["measure", str(tmp_path / "tl.npy"), "--time-axis", "0",
                 "--properties", "area", "--csv", str(out), "--quiet"]) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["t", "label", "area"]
    want = LabelIndex.build(labels, time_axis=0).measure(properties=["area"])
    assert got.values.tolist() == want.values.tolist()


def test_bad_inputs_are_one_line_errors(tmp_path, data, capsys):
    labels, image = data
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "small.npy", image[:2])
    assert main(["measure", str(tmp_path / "labels.npy"), "--csv", str(tmp_path / "o.txt")]) == 2
    assert "must end with .csv" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "labels.npy"), "--csv",
                 str(tmp_path / "labels.npy")]) == 2
    assert main(["measure", str(tmp_path / "labels.npy"), "--image", str(tmp_path / "small.npy"),
                 "--csv", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "image" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_an_rgb_image_is_measured_per_channel_not_read_as_colour_labels(tmp_path):
    labels = np.zeros((4, 16, 16), np.uint16)
    labels[:, 2:6, 2:6] = 1
    labels[:, 8:12, 8:12] = 2
    rgb = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    out = tmp_path / "m.csv"
    assert main(["measure", str(tmp_path / "labels.tif"), "--image", str(tmp_path / "rgb.tif"),
                 "--properties", "intensity_mean", "--csv", str(out)]) == 0
    table = pd.read_csv(out)
    expected = measure(LabelIndex.build(labels), rgb, properties=["intensity_mean"])
    for c in range(3):
        np.testing.assert_allclose(table[f"intensity_mean-{c}"], expected[f"intensity_mean-{c}"])


def white_colour_folder(folder):
    """A folder of RGB PNG slices: blocks of 12 colours and one black object on white.
    Returns the folder, the ids ``labelprep index --background 255,255,255`` gives and the
    slices' colours."""
    rng = np.random.default_rng(8)
    rgb = np.full((5, 24, 32, 3), 255, np.uint8)
    for colour in rng.integers(1, 255, size=(12, 3), dtype=np.uint8):
        z, y, x = rng.integers(0, (4, 20, 27))
        rgb[z:z + 2, y:y + 4, x:x + 5] = colour
    rgb[0, 0, 0] = (0, 0, 0)  # black is an object on white
    ids = expected_ids(rgb, (255, 255, 255))
    assert ids[0, 0, 0] == 1 and np.count_nonzero(ids) < ids.size
    return save(folder, rgb), ids, rgb


def assert_colour_column(table, rgb, ids):
    """``table`` has index's ``colour`` column right after ``label``: the "#rrggbb" of
    every voxel of that label in ``rgb``."""
    columns = list(table.columns)
    assert columns[columns.index("label") + 1] == "colour"
    assert table["colour"].str.fullmatch("#[0-9a-f]{6}").all()
    for label, colour in zip(table["label"], table["colour"], strict=True):
        got = rgb[ids == label]
        assert len(got) and np.all(got == np.frombuffer(bytes.fromhex(colour[1:]), np.uint8))


@pytest.mark.parametrize("text", ["255,255,255", "#ffffff"])
def test_colour_folder_with_a_white_background(tmp_path, text, capsys):
    folder, ids, rgb = white_colour_folder(tmp_path / "white")
    out = tmp_path / "m.csv"
    assert main(["measure", str(folder), "--background", text, "--csv", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    got = pd.read_csv(out)
    want = measure(LabelIndex.build(ids))
    assert got["label"].tolist() == list(range(1, int(ids.max()) + 1))
    assert list(got.columns) == ["label", "colour", *want.columns[1:]]
    assert_colour_column(got, rgb, ids)
    got = got.drop(columns="colour")
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-12)
    assert (f"measured {len(want):,} objects ({len(want.columns) - 1} columns)"
            in capsys.readouterr().out)


def test_colour_folder_with_a_time_axis(tmp_path):
    folder, ids, rgb = white_colour_folder(tmp_path / "white")
    out = tmp_path / "tl.csv"
    assert main(["measure", str(folder), "--background", "255,255,255", "--time-axis", "0",
                 "--properties", "area", "--csv", str(out), "--quiet"]) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["t", "label", "colour", "area"]
    assert_colour_column(got, rgb, ids)
    want = LabelIndex.build(ids, time_axis=0).measure(properties=["area"])
    assert got.drop(columns="colour").values.tolist() == want.values.tolist()


def test_colour_background_on_a_grey_stack_is_the_index_error(tmp_path, capsys):
    grey = tmp_path / "grey.npy"
    np.save(grey, np.ones((2, 8, 8), np.uint16))
    assert main(["measure", str(grey), "--background", "0,0,0", "--csv",
                 str(tmp_path / "m.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelprep measure: error: --background 0,0,0 is a colour, but the "
                          "stack is not colour-coded (it holds uint16 values)")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.csv").exists()
    assert main(["index", str(grey), "--background", "0,0,0", "--quiet"]) == 2
    assert capsys.readouterr().err.split("error:", 1)[1] == err.split("error:", 1)[1]
