"""``labelprep index``: TIFF, folder of slices and .npy in; .npz, table and coords CSV out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelprep import LabelIndex
from labelprep.cli import main


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(7)
    labels = np.zeros((6, 20, 30), dtype=np.uint16)
    for label in range(1, 15):
        z, y, x = rng.integers(0, (5, 16, 25))
        labels[z:z + 2, y:y + 4, x:x + 5] = label
    return labels


def check_outputs(tmp_path, labels, out: str) -> None:
    idx = LabelIndex.load(tmp_path / "objects.npz")
    expected = LabelIndex.build(labels)
    np.testing.assert_array_equal(idx.labels, expected.labels)
    np.testing.assert_array_equal(idx.voxel_indices, expected.voxel_indices)
    np.testing.assert_array_equal(idx.to_labels(), labels)
    table = pd.read_csv(tmp_path / "objects.csv")
    pd.testing.assert_frame_equal(table, expected.table(), check_dtype=False)
    coords = pd.read_csv(tmp_path / "coords.csv")
    assert list(coords.columns) == ["label", "z", "y", "x"]
    assert len(coords) == np.count_nonzero(labels)
    for label in expected.labels[:3]:
        got = coords.loc[coords["label"] == label, ["z", "y", "x"]].to_numpy()
        np.testing.assert_array_equal(got, np.argwhere(labels == label))
    n = len(expected)
    assert f"{n} objects, {np.count_nonzero(labels)} voxels, " in out


def run_cli(tmp_path, source, *extra):
    return main([
        "index", str(source), "--out", str(tmp_path / "objects.npz"),
        "--csv", str(tmp_path / "objects.csv"), "--coords-csv", str(tmp_path / "coords.csv"),
        *extra,
    ])


def test_index_tiff(tmp_path, stack, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    assert run_cli(tmp_path, tmp_path / "stack.tif") == 0
    captured = capsys.readouterr()
    check_outputs(tmp_path, stack, captured.out)
    assert "index" in captured.err  # the progress bars go to stderr


def test_index_folder_of_slices(tmp_path, stack, capsys):
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(stack):
        tifffile.imwrite(folder / f"slice{z}.tif", plane)  # natural order: 2 < 10
    assert run_cli(tmp_path, folder, "--quiet") == 0
    captured = capsys.readouterr()
    check_outputs(tmp_path, stack, captured.out)
    assert captured.err == ""


def test_index_npy_with_background_none(tmp_path, stack, capsys):
    np.save(tmp_path / "stack.npy", stack)
    assert main(["index", str(tmp_path / "stack.npy"), "--background", "none", "--quiet",
                 "--out", str(tmp_path / "all.npz")]) == 0
    idx = LabelIndex.load(tmp_path / "all.npz")
    assert idx.background is None and idx.labels[0] == 0
    assert idx.voxel_indices.size == stack.size
    assert f"{len(idx)} objects, {stack.size} voxels" in capsys.readouterr().out


def test_summary_without_outputs(tmp_path, stack, capsys):
    np.save(tmp_path / "stack.npy", stack)
    assert main(["index", str(tmp_path / "stack.npy"), "--quiet", "--background", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and " objects, " in out and " s (read " in out


@pytest.mark.parametrize("name, content", [
    ("missing.tif", None),
    ("broken.tif", b"not a tiff"),
    ("text.txt", b"hello"),
])
def test_unreadable_input_exits_2_without_traceback(tmp_path, name, content, capsys):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["index", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_float_stack_with_fractions_exits_2(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.array([[0.0, 1.5]]))
    assert main(["index", str(tmp_path / "f.npy"), "--quiet"]) == 2
    assert "whole number" in capsys.readouterr().err


def test_output_in_a_missing_folder_is_refused_up_front(tmp_path, stack, capsys):
    np.save(tmp_path / "stack.npy", stack)
    code = main(["index", str(tmp_path / "stack.npy"), "--quiet",
                 "--out", str(tmp_path / "missing" / "o.npz")])
    assert code == 2  # a usage error, found before the stack is read (issue #16.5)
    captured = capsys.readouterr()
    assert "o.npz" in captured.err and "does not exist" in captured.err
    assert "objects" not in captured.out  # nothing was built


def test_bad_background_argument_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["index", str(tmp_path / "x.npy"), "--background", "zero"])
    assert info.value.code == 2


def test_console_script_subprocess(tmp_path, stack):
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    result = subprocess.run(
        [sys.executable, "-m", "labelprep.cli", "index", str(tmp_path / "stack.tif"),
         "--out", str(tmp_path / "o.npz")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "objects" in result.stdout and "read" in result.stderr
    assert LabelIndex.is_index_file(tmp_path / "o.npz")
    bad = subprocess.run(
        [sys.executable, "-m", "labelprep.cli", "index", str(tmp_path / "nope.tif")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_zarr_stack_in_and_on_disk_zarr_index_out(tmp_path, stack, capsys):
    zarr = pytest.importorskip("zarr")
    from labelprep.chunked import open_index

    src = tmp_path / "labels.zarr"
    z = zarr.open_array(str(src), mode="w", shape=stack.shape, chunks=(2, 8, 8),
                        dtype=stack.dtype)
    z[...] = stack
    expected = LabelIndex.build(stack)
    # zarr in, .npz out: read lazily, same index as in memory
    assert main(["index", str(src), "--out", str(tmp_path / "objects.npz"), "--quiet"]) == 0
    got = LabelIndex.load(tmp_path / "objects.npz")
    np.testing.assert_array_equal(got.voxel_indices, expected.voxel_indices)
    # zarr in, on-disk .zarr index out, plus the table from the on-disk index
    out = tmp_path / "objects.zarr"
    code = main(["index", str(src), "--out", str(out), "--csv", str(tmp_path / "t.csv"),
                 "--quiet"])
    assert code == 0
    assert f"{len(expected)} objects, {np.count_nonzero(stack)} voxels" in capsys.readouterr().out
    on_disk = open_index(out)
    for label in expected.labels:
        np.testing.assert_array_equal(on_disk.coords(label), expected.coords(label))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), expected.table(),
                                  check_dtype=False)


def test_lazy_flag_on_a_tiff_gives_the_same_index(tmp_path, stack):
    pytest.importorskip("dask")
    tifffile.imwrite(tmp_path / "labels.tif", stack)
    assert main(["index", str(tmp_path / "labels.tif"), "--lazy", "--quiet",
                 "--out", str(tmp_path / "objects.npz")]) == 0
    got = LabelIndex.load(tmp_path / "objects.npz")
    np.testing.assert_array_equal(got.voxel_indices, LabelIndex.build(stack).voxel_indices)
