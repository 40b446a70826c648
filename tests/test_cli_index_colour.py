"""``labelprep index`` on colour-coded label folders (issue #20): ids, the colour column,
--background R,G,B, JPEG refused, --lazy, the intensity warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelprep import LabelIndex
from labelprep.cli import main


@pytest.fixture(scope="module")
def rgb():
    """(6, 24, 32, 3) blocks of 12 colours, some spanning slices, on black."""
    rng = np.random.default_rng(3)
    palette = rng.integers(1, 256, size=(12, 3), dtype=np.uint8)
    out = np.zeros((6, 24, 32, 3), np.uint8)
    for colour in palette:
        z, y, x = rng.integers(0, (5, 20, 27))
        out[z:z + 2, y:y + 4, x:x + 5] = colour
    return out


def save(folder, planes):
    folder.mkdir()
    for z, plane in enumerate(planes):
        Image.fromarray(plane).save(folder / f"s{z}.png")
    return folder


def expected_ids(rgb, background=(0, 0, 0)):
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) \
        | rgb[..., 2]
    bg = (background[0] << 16) | (background[1] << 8) | background[2]
    values, inverse = np.unique(packed, return_inverse=True)
    ids = inverse.reshape(packed.shape) + 1
    ids[packed == bg] = 0
    ids[packed > bg] -= 1 if bg in values else 0
    return ids


def run(tmp_path, source, *extra):
    return main(["index", str(source), "--out", str(tmp_path / "o.npz"),
                 "--csv", str(tmp_path / "o.csv"), "--quiet", *extra])


def check_table(tmp_path, rgb, ids):
    table = pd.read_csv(tmp_path / "o.csv")
    assert list(table.columns[:2]) == ["label", "colour"]
    for label, colour in zip(table["label"], table["colour"], strict=True):
        got = rgb[ids == label]
        want = np.frombuffer(bytes.fromhex(colour[1:]), np.uint8)
        assert len(got) and np.all(got == want[None])
    pd.testing.assert_frame_equal(table.drop(columns="colour"),
                                  LabelIndex.build(ids).table(), check_dtype=False)


def test_colour_folder(tmp_path, rgb, capsys):
    folder = save(tmp_path / "rgb", rgb)
    assert run(tmp_path, folder) == 0
    out = capsys.readouterr().out
    ids = expected_ids(rgb)
    n = int(ids.max())
    assert f"{n} colours -> ids, {n} objects, {np.count_nonzero(ids)} voxels" in out
    np.testing.assert_array_equal(LabelIndex.load(tmp_path / "o.npz").to_labels(), ids)
    check_table(tmp_path, rgb, ids)


@pytest.mark.parametrize("text", ["255,255,255", "#ffffff"])
def test_background_colour(tmp_path, rgb, capsys, text):
    white = rgb.copy()
    white[np.all(rgb == 0, axis=-1)] = 255
    white[0, 0, 0] = (0, 0, 0)  # a black object
    folder = save(tmp_path / "white", white)
    assert run(tmp_path, folder, "--background", text) == 0
    ids = expected_ids(white, (255, 255, 255))
    assert ids[0, 0, 0] == 1
    np.testing.assert_array_equal(LabelIndex.load(tmp_path / "o.npz").to_labels(), ids)
    check_table(tmp_path, white, ids)
    assert f"{int(ids.max())} colours -> ids" in capsys.readouterr().out


def test_lazy_equals_in_memory(tmp_path, rgb, capsys):
    folder = save(tmp_path / "rgb", rgb)
    assert run(tmp_path, folder, "--lazy") == 0
    ids = expected_ids(rgb)
    np.testing.assert_array_equal(LabelIndex.load(tmp_path / "o.npz").to_labels(), ids)
    check_table(tmp_path, rgb, ids)
    assert f"{int(ids.max())} colours -> ids" in capsys.readouterr().out


def test_colour_background_on_grey_stack_is_an_error(tmp_path, capsys):
    folder = save(tmp_path / "grey", np.zeros((2, 8, 8), np.uint16))
    assert run(tmp_path, folder, "--background", "0,0,0") == 2
    err = capsys.readouterr().err
    assert err.startswith("labelprep index: error:") and "colour" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("lazy", [False, True])
def test_label_value_background_on_colour_stack_is_an_error(tmp_path, rgb, capsys, lazy):
    """A value would be applied to the ids made from the colours: another object dropped,
    black indexed. Refused, and nothing written."""
    folder = save(tmp_path / "rgb", rgb)
    assert run(tmp_path, folder, "--background", "2", *(["--lazy"] if lazy else [])) == 2
    err = capsys.readouterr().err
    assert "--background 2 is a label value, but the stack is colour-coded" in err
    assert "R,G,B" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "o.csv").exists()
    assert run(tmp_path, folder, "--background", "0") == 0  # the default's value: black


def test_bad_background_text(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, tmp_path, "--background", "1,2,300")
    assert exc.value.code == 2
    assert "R,G,B" in capsys.readouterr().err


@pytest.mark.parametrize("lazy", [False, True])
def test_jpeg_and_mixed_slices_one_line_errors(tmp_path, rgb, capsys, lazy):
    extra = ["--lazy"] if lazy else []
    folder = save(tmp_path / "jpeg", rgb[:2])
    Image.fromarray(rgb[2]).save(folder / "s2.jpg")
    assert run(tmp_path, folder, *extra) == 2
    err = capsys.readouterr().err
    assert "s2.jpg" in err and "JPEG" in err and "Traceback" not in err
    (folder / "s2.jpg").unlink()
    Image.fromarray(rgb[2, :5]).save(folder / "s2.png")
    code = run(tmp_path, folder, *extra)
    err = capsys.readouterr().err
    assert code == 2 and "s2.png" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_intensity_warning_applies_to_colour_ids(tmp_path, capsys):
    # a grey ramp saved as RGB: every pixel its own colour, ids ordered like the ramp
    ramp = (np.add.outer(np.arange(48), np.arange(64)) * 2).astype(np.uint8)
    planes = np.repeat(np.stack([ramp, ramp + 1])[..., None], 3, axis=-1)
    folder = save(tmp_path / "ramp", planes)
    assert run(tmp_path, folder) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "intensity image" in err
