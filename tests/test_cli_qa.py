"""``labelprep qa``: driven through its own parser (add_arguments / run)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import tifffile

from labelprep import LabelIndex
from labelprep._commands import qa as qa_command
from labelprep.qa import FLAG_COLUMNS, flags

from .test_cli_measure import assert_colour_column, white_colour_folder


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelprep qa")
    qa_command.add_arguments(parser)
    return qa_command.run(parser.parse_args(argv))


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(3)
    labels = np.zeros((6, 30, 40), dtype=np.uint16)
    for label in range(1, 40):
        z, y, x = rng.integers(0, (5, 26, 35))
        labels[z:z + rng.integers(1, 3), y:y + 4, x:x + 5] = label
    labels[5, 0:2, 0] = 50  # tiny, on the border
    labels[0, 10, 10] = 51  # a piece away from the rest of 51
    labels[3, 20, 30] = 51
    return labels


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_csv_equals_flags_and_summary(tmp_path, stack, suffix, capsys):
    path = tmp_path / f"stack{suffix}"
    np.save(path, stack) if suffix == ".npy" else tifffile.imwrite(path, stack)
    out = tmp_path / "flags.csv"
    assert run([str(path), "--csv", str(out), "--quiet"]) == 0
    want = flags(LabelIndex.build(stack))
    got = pd.read_csv(out)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    lines = capsys.readouterr().out.splitlines()
    n = int(want[list(FLAG_COLUMNS)].any(axis=1).sum())
    assert lines[0].startswith(f"{n} of {len(want)} objects flagged: ")
    assert f"{int(want.fragmented.sum())} fragmented (connectivity 1)" in lines[0]
    assert lines[1] == f"wrote {out}"


def test_options_reach_flags(tmp_path, stack, capsys):
    path = tmp_path / "stack.npy"
    np.save(path, stack)
    out = tmp_path / "flagged.csv"
    argv = [str(path), "--csv", str(out), "--flagged-only", "--tiny", "5", "--huge", "30",
            "--low-fill", "0.5", "--connectivity", "3", "--quiet"]
    assert run(argv) == 0
    want = flags(LabelIndex.build(stack), tiny=5, huge=30, low_fill=0.5, connectivity=3)
    want = want[want[list(FLAG_COLUMNS)].any(axis=1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(out), want, check_dtype=False)
    line = capsys.readouterr().out.splitlines()[0]
    assert "tiny (< 5 voxels)" in line and "huge (> 30 voxels)" in line
    assert "low fill (< 0.5 of the bbox)" in line
    assert run([str(path), "--quiet"]) == 0  # no CSV: the summary only
    assert capsys.readouterr().out.count("\n") == 1


def test_summary_thousands():
    table = pd.DataFrame({"label": np.arange(1, 15035), **{
        c: np.arange(15034) < k for c, k in zip(FLAG_COLUMNS, (120, 3, 40, 30, 12, 7))}})
    table.attrs["thresholds"] = {"tiny": 9.4, "huge": 12345.0, "low_fill": 0.1,
                                 "connectivity": 1}
    assert qa_command.summary(table) == (
        "120 of 15,034 objects flagged: 120 tiny (< 9.4 voxels), 3 huge (> 12,345 voxels), "
        "40 touch the border, 30 in a single slice, 12 low fill (< 0.1 of the bbox), "
        "7 fragmented (connectivity 1)")


def test_bad_inputs_exit_2(tmp_path, stack, capsys):
    path = tmp_path / "stack.npy"
    np.save(path, stack)
    assert run([str(tmp_path / "missing.npy"), "--quiet"]) == 2
    assert run([str(path), "--connectivity", "4", "--quiet"]) == 2
    assert "connectivity must be 1..3" in capsys.readouterr().err
    assert run([str(path), "--csv", str(tmp_path / "flags.txt"), "--quiet"]) == 2
    assert run([str(path), "--csv", str(tmp_path / "no" / "flags.csv"), "--quiet"]) == 2
    assert run([str(path), "--background", "70000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("labelprep qa: error:") == 3
    assert "flags.txt" in err and ".csv" in err  # the refusal names the path and suffix
    for bad in (["--low-fill", "2"], ["--tiny", "-1"], ["--spread", "0"], ["--tiny", "x"]):
        with pytest.raises(SystemExit) as exc:
            run([str(path), *bad])
        assert exc.value.code == 2
    assert not list(tmp_path.glob("*.csv"))


def test_write_failure_exit_1(tmp_path, stack, monkeypatch, capsys):
    from labelprep import io

    path = tmp_path / "stack.npy"
    np.save(path, stack)

    def refuse(*args, **kwargs):
        raise OSError(28, "disk full")

    monkeypatch.setattr(io, "atomic_open", refuse)
    assert run([str(path), "--csv", str(tmp_path / "flags.csv"), "--quiet"]) == 1
    assert "disk full" in capsys.readouterr().err


def test_an_undecodable_path_is_a_printable_one_line_error(tmp_path, capsys):
    import os

    missing = tmp_path / os.fsdecode(b"stack-\xff.tif")  # not valid UTF-8 on disk
    assert run([str(missing), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labelprep qa: error:") and "\\udcff" in err and "\n" not in err


def test_colour_folder_with_a_white_background(tmp_path, capsys):
    folder, ids, rgb = white_colour_folder(tmp_path / "white")
    out = tmp_path / "flags.csv"
    assert run([str(folder), "--background", "255,255,255", "--csv", str(out),
                "--quiet"]) == 0, capsys.readouterr().err
    got = pd.read_csv(out)
    want = flags(LabelIndex.build(ids))
    assert got["label"].tolist() == list(range(1, int(ids.max()) + 1))
    assert list(got.columns) == ["label", "colour", *want.columns[1:]]
    assert_colour_column(got, rgb, ids)
    pd.testing.assert_frame_equal(got.drop(columns="colour"), want, check_dtype=False)
    assert f" of {len(want)} objects flagged: " in capsys.readouterr().out


def test_colour_folder_flagged_only_keeps_each_rows_colour(tmp_path, capsys):
    folder, ids, rgb = white_colour_folder(tmp_path / "white")
    out = tmp_path / "flagged.csv"
    assert run([str(folder), "--background", "#ffffff", "--csv", str(out), "--flagged-only",
                "--tiny", "30", "--quiet"]) == 0, capsys.readouterr().err
    got = pd.read_csv(out)
    want = flags(LabelIndex.build(ids), tiny=30)
    want = want[want[list(FLAG_COLUMNS)].any(axis=1)].reset_index(drop=True)
    assert 0 < len(want) < int(ids.max())
    assert_colour_column(got, rgb, ids)
    pd.testing.assert_frame_equal(got.drop(columns="colour"), want, check_dtype=False)


def test_colour_background_on_a_grey_stack_is_an_error(tmp_path, stack, capsys):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack)
    assert run([str(path), "--background", "#000000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelprep qa: error: --background 0,0,0 is a colour, but the "
                          "stack is not colour-coded (it holds uint16 values): give an "
                          "integer label value")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
