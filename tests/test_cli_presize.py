"""`labelprep presize`: runs, summary, exit codes 0 / 1 / 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from labelprep.cli import main


@pytest.fixture
def folders(tmp_path, photo):
    rgb, m = photo
    src, masks = tmp_path / "src", tmp_path / "masks"
    (src / "sub").mkdir(parents=True)
    (masks / "sub").mkdir(parents=True)
    Image.fromarray(rgb).save(src / "a.jpg", quality=92)
    Image.fromarray(rgb[::-1].copy()).save(src / "sub" / "b.png")
    Image.fromarray(m).save(masks / "a.png")
    Image.fromarray(m[::-1].copy()).save(masks / "sub" / "b.png")
    return src, masks


def test_cli_presize_ok(tmp_path, folders, capsys):
    src, masks = folders
    code = main(["presize", str(src), str(tmp_path / "out"), "--size", "120", "--masks",
                 str(masks), "--masks-out", str(tmp_path / "mout"), "--workers", "1",
                 "--method", "mode", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "2 images: 2 written, 0 skipped, 0 failed" in out
    with Image.open(tmp_path / "out" / "sub" / "b.png") as im:
        assert im.size == (160, 120)
    assert np.asarray(Image.open(tmp_path / "mout" / "a.png")).shape == (120, 160)
    # resume: a second run with the same settings skips both and still exits 0
    code = main(["presize", str(src), str(tmp_path / "out"), "--size", "120", "--masks",
                 str(masks), "--masks-out", str(tmp_path / "mout"), "--workers", "1",
                 "--method", "mode", "--quiet"])
    assert code == 0 and "2 skipped" in capsys.readouterr().out
    # other settings (the default mask method) redo both: their outputs would differ
    code = main(["presize", str(src), str(tmp_path / "out"), "--size", "120", "--masks",
                 str(masks), "--masks-out", str(tmp_path / "mout"), "--workers", "1", "--quiet"])
    assert code == 0 and "2 written, 0 skipped" in capsys.readouterr().out


def test_cli_presize_pair_size_and_upscale(tmp_path, folders, capsys):
    src, _ = folders
    assert main(["presize", str(src), str(tmp_path / "o"), "--size", "100", "200",
                 "--workers", "1", "--quiet"]) == 0
    with Image.open(tmp_path / "o" / "a.jpg") as im:
        assert im.size == (200, 150)  # ratio = max(100/480, 200/640)
    assert main(["presize", str(src), str(tmp_path / "u"), "--size", "960", "--upscale",
                 "--workers", "1", "--quiet"]) == 0
    with Image.open(tmp_path / "u" / "a.jpg") as im:
        assert im.size == (1280, 960)


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_cli_presize_failures_exit_1(tmp_path, folders, capsys, executor):
    src, _ = folders
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    code = main(["presize", str(src), str(tmp_path / "out"), "--size", "100", "--workers", "2",
                 "--executor", executor, "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out
    assert "FAILED broken.jpg" in captured.err
    assert (tmp_path / "out" / "a.jpg").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["INSIDE"],  # dst inside src
        ["SAME"],  # dst == src
        ["--masks", "MASKS"],  # --masks without --masks-out
        ["--masks-out", "MOUT"],  # --masks-out without --masks
        ["--size", "0"],
        ["--size", "1", "2", "3"],
        ["MISSING_SRC"],
    ],
)
def test_cli_presize_usage_errors_exit_2(tmp_path, folders, capsys, extra):
    src, masks = folders
    dst = tmp_path / "out"
    args = ["presize", str(src), str(dst), "--size", "100", "--workers", "1", "--quiet"]
    if extra == ["INSIDE"]:
        args[2] = str(src / "small")
    elif extra == ["SAME"]:
        args[2] = str(src)
    elif extra == ["MISSING_SRC"]:
        args[1] = str(tmp_path / "nope")
    else:
        args += [{"MASKS": str(masks), "MOUT": str(tmp_path / "mo")}.get(a, a) for a in extra]
    before = sorted(p.name for p in src.rglob("*"))
    assert main(args) == 2
    assert "error" in capsys.readouterr().err
    assert sorted(p.name for p in src.rglob("*")) == before
    assert not dst.exists()


def test_cli_presize_bad_option_is_argparse_exit_2(tmp_path, folders):
    src, _ = folders
    with pytest.raises(SystemExit) as err:
        main(["presize", str(src), str(tmp_path / "o"), "--size", "abc"])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["presize", str(src), str(tmp_path / "o"), "--size", "10", "--method", "bilinear"])
    assert err.value.code == 2


def test_cli_presize_as_a_process(tmp_path, folders):
    src, _ = folders
    proc = subprocess.run(
        [sys.executable, "-m", "labelprep.cli", "presize", str(src), str(tmp_path / "p"),
         "--size", "64"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 written" in proc.stdout
    assert "presize" in proc.stderr  # the progress bar
    proc = subprocess.run(
        [sys.executable, "-m", "labelprep.cli", "presize", str(src), str(src / "x"),
         "--size", "64"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2 and "inside" in proc.stderr


def test_cli_presize_on_a_dask_scheduler(tmp_path, folders, capsys):
    distributed = pytest.importorskip("distributed")
    src, masks = folders
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        code = main(["presize", str(src), str(tmp_path / "out"), "--size", "100", "--masks",
                     str(masks), "--masks-out", str(tmp_path / "mout"), "--quiet",
                     "--scheduler", cluster.scheduler_address])
    assert code == 0
    assert "2 written" in capsys.readouterr().out
    assert main(["presize", str(src), str(tmp_path / "local"), "--size", "100", "--workers", "1",
                 "--quiet"]) == 0
    for name in ("a.jpg", "sub/b.png"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
