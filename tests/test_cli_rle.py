"""``labelprep rle encode|decode|info``: files in, files out, clear errors and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelprep import rle
from labelprep.cli import main


@pytest.fixture
def masks(tmp_path, photo, cells):
    """A folder with a PNG mask, a 3D TIFF stack and an int64 .npy with negative labels."""
    folder = tmp_path / "masks"
    folder.mkdir()
    _, mask = photo
    Image.fromarray(mask).save(folder / "photo.png")
    _, labels = cells
    tifffile.imwrite(folder / "cells.tif", labels[:8])
    signed = np.arange(-6, 6, dtype=np.int64).reshape(3, 4)
    np.save(folder / "signed.npy", signed)
    return folder, {"photo": mask, "cells": labels[:8], "signed": signed}


def test_encode_one_file_next_to_it(masks, capsys):
    folder, arrays = masks
    assert main(["rle", "encode", str(folder / "photo.png")]) == 0
    out = folder / "photo.rle.json"
    np.testing.assert_array_equal(rle.decode(rle.load(out)), arrays["photo"])
    assert "runs" in capsys.readouterr().out


def test_encode_folder_to_folder_then_decode_everything_back(masks, tmp_path, capsys):
    folder, arrays = masks
    enc = tmp_path / "enc"
    assert main(["rle", "encode", str(folder), "--out", str(enc), "--compact"]) == 0
    names = sorted(p.name for p in enc.iterdir())
    assert names == ["cells.rle.json", "photo.rle.json", "signed.rle.json"]
    assert isinstance(json.loads((enc / "cells.rle.json").read_text())["counts"], str)
    assert "encoded 3 of 3 masks" in capsys.readouterr().out

    dec = tmp_path / "dec"
    assert main(["rle", "decode", str(enc), "--out", str(dec), "--format", "npy"]) == 0
    for name, expected in arrays.items():
        got = np.load(dec / f"{name}.npy")
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)

    assert main(["rle", "decode", str(enc), "--out", str(tmp_path / "tifs")]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "tifs" / "cells.tif"),
                                  arrays["cells"])


@pytest.mark.parametrize("suffix", [".tif", ".png", ".npy"])
def test_decode_single_file_format_from_suffix(masks, tmp_path, suffix):
    folder, arrays = masks
    src = tmp_path / "p.rle.json"
    assert main(["rle", "encode", str(folder / "photo.png"), "--out", str(src), "-q"]) == 0
    dst = tmp_path / f"back{suffix}"
    assert main(["rle", "decode", str(src), "--out", str(dst)]) == 0
    from labelprep.io import read_image

    np.testing.assert_array_equal(read_image(dst), arrays["photo"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_png_of_a_3d_stack_is_refused_with_exit_code_1(masks, tmp_path, capsys):
    folder, _ = masks
    src = tmp_path / "c.rle.json"
    main(["rle", "encode", str(folder / "cells.tif"), "--out", str(src), "-q"])
    capsys.readouterr()
    assert main(["rle", "decode", str(src), "--out", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert "c.rle.json" in err and "PNG holds 2D" in err
    assert not (tmp_path / "c.png").exists()


def test_bad_files_are_reported_and_the_rest_still_done(tmp_path, capsys):
    good = tmp_path / "good.npy"
    np.save(good, np.eye(3, dtype=np.uint8))
    floats = tmp_path / "floats.npy"
    np.save(floats, np.eye(3))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    out = tmp_path / "out"
    code = main(["rle", "encode", str(good), str(floats), str(corrupt), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "floats.npy" in err and "float dtype" in err
    assert "corrupt.png" in err
    assert (out / "good.rle.json").exists()
    assert not (out / "floats.rle.json").exists()


def test_decode_corrupt_json_exit_code_1_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.rle.json"
    bad.write_text('{"size": [2, 2], "values": [1], "counts": [3]}')
    broken = tmp_path / "broken.rle.json"
    broken.write_text("{")
    assert main(["rle", "decode", str(bad), str(broken), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.rle.json" in err and "sum to 3" in err
    assert "broken.rle.json" in err and "not a valid JSON" in err
    assert main(["rle", "info", str(bad)]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["rle", "encode", "{tmp}/nothing-here.png"],
        ["rle", "decode", "{tmp}/nothing.rle.json"],
        ["rle", "encode", "{tmp}/a.npy", "{tmp}/b.npy", "--out", "{tmp}/one.rle.json"],
        ["rle", "decode", "{tmp}/a.rle.json", "--out", "{tmp}/x.png", "--format", "npy"],
    ],
)
def test_usage_errors_exit_code_2(tmp_path, argv, capsys):
    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((2, 2), np.uint8))
    rle.save(tmp_path / "a.rle.json", rle.encode(np.zeros((2, 2), np.uint8)))
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    assert "labelprep rle:" in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["rle"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["rle", "encode"])
    assert info.value.code == 2


def test_name_collisions_are_refused(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / "m.npy", np.zeros((2, 2), np.uint8))
    code = main(["rle", "encode", str(tmp_path / "a" / "m.npy"), str(tmp_path / "b" / "m.npy"),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "would both be written" in capsys.readouterr().err


def test_progress_bar_for_many_files(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for i in range(4):
        np.save(tmp_path / "in" / f"m{i}.npy", np.full((3, 3), i, np.uint8))
    assert main(["rle", "encode", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "encoding" in captured.err and "4/4" in captured.err
    assert main(["rle", "encode", str(tmp_path / "in"), "--out", str(tmp_path / "q"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_info(tmp_path, capsys, photo):
    _, mask = photo
    path = rle.save(tmp_path / "m.rle.json", rle.encode(mask, compact=True))
    assert main(["rle", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "size [480, 640]" in out and "uint8" in out and "labels 0, 1, 2, 3" in out
    assert "compact" in out
