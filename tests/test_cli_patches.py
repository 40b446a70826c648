"""``labelprep patches``: folders in, one atomic .npz out, a readable summary."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labelprep import samples
from labelprep.cli import main
from labelprep.io import read_image


@pytest.fixture
def dataset(tmp_path):
    """Six small RGB PNGs (two in a subfolder) and their masks under masks/ with _mask."""
    img_root, mask_root = tmp_path / "images", tmp_path / "masks"
    for i in range(6):
        sub = "part2" if i >= 4 else ""
        rgb, mask = samples.photo_2d((90, 120), n_objects=10, seed=i)
        (img_root / sub).mkdir(parents=True, exist_ok=True)
        (mask_root / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(img_root / sub / f"im{i}.png")
        Image.fromarray(mask).save(mask_root / sub / f"im{i}_mask.png")
    return img_root, mask_root


def _run(capsys, *argv):
    code = main(["patches", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_paired_patches_with_sources(tmp_path, dataset, capsys):
    img_root, mask_root = dataset
    out = tmp_path / "out" / "p.npz"
    code, stdout, stderr = _run(
        capsys, img_root, "--masks", mask_root, "--mask-suffix", "_mask", "--size", "16",
        "--n", "150", "--out", out, "--cache-size", "3", "--replace-every", "8",
        "--mode", "foreground",
    )
    assert code == 0, stderr
    assert "mean distinct images per batch of 32" in stdout
    assert "patch centre classes" in stdout and "0: " not in stdout  # foreground only
    assert "patches" in stderr  # the tqdm bar
    with np.load(out) as z:
        images, masks, origins = z["images"], z["masks"], z["origins"]
        sources, mask_sources = z["sources"].tolist(), z["mask_sources"].tolist()
        assert z["mode"] == "foreground" and z["patch_size"].tolist() == [16, 16]
    assert images.shape == (150, 16, 16, 3) and masks.shape == (150, 16, 16)
    assert len(sources) == 6 and sources[4].endswith("part2/im4.png")
    assert mask_sources[4].endswith("part2/im4_mask.png")
    decoded = {i: read_image(s) for i, s in enumerate(sources)}
    mdecoded = {i: read_image(s) for i, s in enumerate(mask_sources)}
    for k, (i, y, x) in enumerate(origins):
        np.testing.assert_array_equal(images[k], decoded[i][y : y + 16, x : x + 16])
        np.testing.assert_array_equal(masks[k], mdecoded[i][y : y + 16, x : x + 16])
    assert (masks[:, 8, 8] != 0).all()
    assert list(out.parent.iterdir()) == [out]  # no temp file left


def test_same_seed_same_file_other_seed_differs(tmp_path, dataset, capsys):
    img_root, _ = dataset
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out = tmp_path / f"{name}.npz"
        assert _run(capsys, img_root, "--n", "64", "--size", "12", "20", "--seed", seed,
                    "--out", out, "--quiet")[0] == 0
        with np.load(out) as z:
            outs.append((z["origins"], z["images"]))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert outs[0][1].shape == (64, 12, 20, 3)
    assert not np.array_equal(outs[0][0], outs[2][0])


def test_class_balanced_with_weights(tmp_path, dataset, capsys):
    img_root, mask_root = dataset
    out = tmp_path / "cb.npz"
    code, stdout, stderr = _run(
        capsys, img_root, "--masks", mask_root, "--mask-suffix", "_mask", "--size", "9",
        "--n", "400", "--mode", "class_balanced", "--class-weights", "0=0,1=1,2=1",
        "--out", out, "--quiet",
    )
    assert code == 0, stderr
    with np.load(out) as z:
        centres = z["masks"][:, 4, 4]
    assert set(np.unique(centres)) == {1, 2}
    assert abs((centres == 1).mean() - 0.5) < 0.1


def test_3d_tiff_volumes_with_pad(tmp_path, capsys):
    import tifffile

    image, labels = samples.cells_3d((8, 40, 40), n_cells=10, seed=1)
    tifffile.imwrite(tmp_path / "vol.tif", image)
    out = tmp_path / "v.npz"
    code, stdout, stderr = _run(capsys, tmp_path / "vol.tif", "--size", "10", "16", "16",
                                "--border", "pad", "--pad-mode", "reflect", "--n", "20",
                                "--out", out, "--quiet")
    assert code == 0, stderr
    with np.load(out) as z:
        assert z["images"].shape == (20, 10, 16, 16)
        origins = z["origins"]
    assert set(origins[:, 1].tolist()) <= {-2, -1, 0}  # z: 8 slices in a 10-slice patch
    padded = np.pad(image, ((10, 10), (0, 0), (0, 0)), mode="reflect")
    with np.load(out) as z:
        for k, (_, zz, y, x) in enumerate(origins):
            np.testing.assert_array_equal(z["images"][k], padded[zz + 10 : zz + 20, y : y + 16,
                                                                 x : x + 16])


def test_corrupt_file_is_left_out_named_and_the_run_exits_1(tmp_path, dataset, capsys):
    """One bad file fails alone (issue #16.6): the others are sampled, the failure is
    listed at the end, exit 1."""
    img_root, _ = dataset
    (img_root / "im2.png").write_bytes(b"not an image at all")
    out = tmp_path / "x.npz"
    out.write_bytes(b"previous content")
    code, stdout, stderr = _run(capsys, img_root, "--n", "50", "--size", "8", "--out", out,
                                "--cache-size", "6", "--quiet")
    assert code == 1
    assert "im2.png" in stderr and "left out" in stderr and "Traceback" not in stderr
    with np.load(out) as data:
        assert data["images"].shape[0] == 50
        assert not any("im2.png" in s for s in data["sources"].tolist())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "masks", "x.npz"]


def _break_files(img_root, mask_root):
    """im2.png corrupt, the mask of im3 of the wrong shape."""
    (img_root / "im2.png").write_bytes(b"not an image at all")
    mask = read_image(mask_root / "im3_mask.png")
    Image.fromarray(mask[:40]).save(mask_root / "im3_mask.png")


def test_skip_bad_leaves_out_bad_files_in_one_pass_lists_them_and_exits_1(
    tmp_path, dataset, capsys
):
    img_root, mask_root = dataset
    _break_files(img_root, mask_root)
    out = tmp_path / "s.npz"
    code, stdout, stderr = _run(
        capsys, img_root, "--masks", mask_root, "--mask-suffix", "_mask", "--size", "16",
        "--n", "120", "--out", out, "--cache-size", "3", "--replace-every", "8", "--quiet",
        "--skip-bad",
    )
    assert code == 1
    assert "Traceback" not in stderr and "SkippedFileWarning" not in stderr
    assert "2 file(s) could not be read or used and were skipped" in stderr
    lines = [ln.strip() for ln in stderr.splitlines() if ln.startswith("  ")]
    assert len(lines) == 2
    bad2 = next(ln for ln in lines if ln.startswith(str(img_root / "im2.png") + ": "))
    assert "cannot read" in bad2
    bad3 = next(ln for ln in lines if ln.startswith(str(img_root / "im3.png") + ": "))
    assert "im3_mask.png has shape (40, 120)" in bad3
    assert "drawing without it" not in stderr  # one pass, no restart
    assert "from 4 image(s) with masks" in stdout
    with np.load(out) as z:
        assert z["images"].shape[0] == 120 and z["masks"].shape[0] == 120
        sources = z["sources"].tolist()
        used = {sources[i] for i in z["origins"][:, 0]}
    assert len(sources) == 6  # origins index the full list
    good = {str(img_root / f"im{i}.png") for i in (0, 1)} | {
        str(img_root / "part2" / f"im{i}.png") for i in (4, 5)}
    assert used == good  # the bad two never drawn, every good one visited


def test_without_skip_bad_a_wrong_mask_still_stops_the_run(tmp_path, dataset, capsys):
    img_root, mask_root = dataset
    _break_files(img_root, mask_root)
    out = tmp_path / "w.npz"
    code, _, stderr = _run(capsys, img_root, "--masks", mask_root, "--mask-suffix", "_mask",
                           "--size", "16", "--n", "50", "--out", out, "--cache-size", "6",
                           "--quiet")
    assert code == 2
    assert "error: mask" in stderr and "im3_mask.png" in stderr  # unusable: stops
    assert "--skip-bad" not in stderr
    assert not out.exists()


def test_skip_bad_with_every_file_bad_is_an_error_listing_them(tmp_path, dataset, capsys):
    img_root, _ = dataset
    out = tmp_path / "a.npz"
    code, _, stderr = _run(capsys, img_root, "--size", "100", "--n", "10", "--out", out,
                           "--quiet", "--skip-bad")
    assert code == 2 and not out.exists()
    assert "error: all 6 image(s) were skipped" in stderr and "smaller than the patch" in stderr
    assert "6 file(s) could not be read or used and were skipped" in stderr
    assert "Traceback" not in stderr


def test_skip_bad_without_bad_files_writes_the_same_patches(tmp_path, dataset, capsys):
    img_root, mask_root = dataset
    outs = []
    for flag in ([], ["--skip-bad"]):
        out = tmp_path / f"g{len(flag)}.npz"
        code, stdout, stderr = _run(capsys, img_root, "--masks", mask_root, "--mask-suffix",
                                    "_mask", "--size", "12", "--n", "90", "--mode",
                                    "foreground", "--cache-size", "2", "--out", out,
                                    "--quiet", *flag)
        assert code == 0 and "skipped" not in stderr, stderr
        assert "from 6 image(s) with masks" in stdout
        with np.load(out) as z:
            outs.append({k: z[k] for k in ("images", "masks", "origins", "sources")})
    for key in outs[0]:
        np.testing.assert_array_equal(outs[0][key], outs[1][key])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--size", "300"], "smaller than the patch"),
        (["--masks", "MASKS"], "no mask named"),
        (["--mode", "foreground"], "needs masks"),
        (["--size", "1", "2", "3", "4"], "--size takes 1, 2 or 3"),
        (["--n", "0"], "--n must be"),
        (["--out", "x.txt"], "must end with .npz"),
    ],
)
def test_bad_input_gives_a_one_line_error(tmp_path, dataset, capsys, extra, message):
    img_root, mask_root = dataset
    extra = [str(mask_root.parent / "nomasks") if e == "MASKS" else e for e in extra]
    if "MASKS" in extra or "--masks" in extra:
        (mask_root.parent / "nomasks").mkdir()
    argv = [img_root, "--out", tmp_path / "o.npz", "--quiet", *extra]
    code, stdout, stderr = _run(capsys, *argv)
    assert code == 2
    assert message in stderr and "Traceback" not in stderr


def test_missing_source(tmp_path, capsys):
    code, _, stderr = _run(capsys, tmp_path / "nothing", "--out", tmp_path / "o.npz")
    assert code == 2 and "no such file or folder" in stderr
