"""``labelprep measure`` through the real command line (labelprep.cli.main)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelprep import LabelIndex
from labelprep.cli import main
from labelprep.measure import measure


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
