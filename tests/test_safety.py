"""Data safety (issue #16): sources never touched, nothing corrupt or half-written
reported as written, one bad file never stops a batch. One test (or more) per point of
the issue; each reproduces what main did wrong before the fix. docs/safety.md lists them.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelprep import LabelIndex, io, presize, rle
from labelprep.cli import main
from labelprep.errors import ImageReadError, OutputError


def _jpeg(path: Path, hw=(120, 160), seed=0) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 255, (*hw, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=95)
    return rgb


def _flip_idat_byte(path: Path) -> None:
    """Flip one byte inside the pixel data (IDAT) of a PNG file."""
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 20] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 256 KiB tmpfs (root only): writes past that fail with ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ------------------------------------------------------------------ 1. symlinks
def test_a_symlink_inside_dst_never_leads_a_write_into_the_sources(tmp_path, capsys):
    src, dst = tmp_path / "s", tmp_path / "d"
    original = _jpeg(src / "sub" / "a.jpg")
    _jpeg(src / "b.jpg", seed=1)
    before = (src / "sub" / "a.jpg").read_bytes()
    dst.mkdir()
    (dst / "sub").symlink_to(src / "sub")
    code = main(["presize", str(src), str(dst), "--size", "40", "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1  # the file behind the link failed alone, with the reason
    assert "sub/a.jpg" in err and "symlink" in err
    assert (src / "sub" / "a.jpg").read_bytes() == before
    assert original.shape == (120, 160, 3)
    assert (dst / "b.jpg").is_file()  # the others were written


def test_a_symlinked_file_in_dst_is_not_written_through(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    _jpeg(src / "a.jpg")
    before = (src / "a.jpg").read_bytes()
    dst.mkdir()
    (dst / "a.jpg").symlink_to(src / "a.jpg")
    rep = presize.folder(src, dst, 40, workers=1)
    assert [p.as_posix() for p, _ in rep.failed] == ["a.jpg"]
    assert (src / "a.jpg").read_bytes() == before


def test_symlinked_source_folders_are_followed_once_and_count_as_sources(tmp_path):
    data, src = tmp_path / "data", tmp_path / "s"
    _jpeg(data / "x.jpg")
    _jpeg(src / "own.jpg", seed=2)
    (src / "linked").symlink_to(data)
    (data / "loop").symlink_to(data)  # a link loop must not be walked forever
    names = sorted(p.relative_to(src).as_posix() for p in io.list_images(src))
    assert names == ["linked/x.jpg", "own.jpg"]
    assert io.real(data) in io.source_trees(src)
    # an output folder inside what a source link leads to is refused up front
    with pytest.raises(ValueError, match="inside the input"):
        presize.folder(src, data / "out", 40)
    rep = presize.folder(src, tmp_path / "d", 40, workers=1)
    assert rep.written == 2 and (tmp_path / "d" / "linked" / "x.jpg").is_file()


# ------------------------------------------------------------------ 1b. symlinks, every command
def _labelled_sources(tmp_path: Path) -> Path:
    """A source tree for every command: label slices and a stack, images with masks,
    an RLE file and a COCO file."""
    from labelprep import export

    src = tmp_path / "src"
    rng = np.random.default_rng(7)
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 2:6, 3:9], labels[1:, 9:14, 8:12] = 1, 2
    for folder in ("slices", "images", "masks", "rle"):
        (src / folder).mkdir(parents=True)
    for z, plane in enumerate(labels):
        Image.fromarray(plane).save(src / "slices" / f"z{z}.png")
    tifffile.imwrite(src / "stack.tif", labels.astype(np.uint16), photometric="minisblack")
    for name in ("a", "b"):
        mask = np.zeros((32, 32), np.uint8)
        mask[4:20, 6:18], mask[22:30, 2:30] = 1, 3
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            src / "images" / f"{name}.png")
        Image.fromarray(mask).save(src / "masks" / f"{name}.png")
    rle.save(src / "rle" / "a.rle.json", rle.encode(labels[1]))
    export.coco(np.asarray(Image.open(src / "masks" / "a.png")), out=src / "coco.json")
    return src


def _snapshot(root: Path) -> dict:
    """Every entry under ``root``: a file's bytes, a symlink's target, a folder's name."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "folder"
    return out


#: (command, what the output path names: a symlink "file" to a source file or a path
#: through a symlinked "folder" into the sources, argv with {src} and {out}, the link's
#: target relative to src, the message). Each must be refused before any work (exit 2).
_LINKED_OUTPUTS = [
    ("index --out", "file", ["index", "{src}/stack.tif", "--out", "{out}/x.npz"],
     "stack.tif", "would write over the input"),
    ("index --out", "folder", ["index", "{src}/slices", "--out", "{out}/x.npz"],
     "slices", "would write inside the input"),
    ("index --out zarr", "file", ["index", "{src}/stack.tif", "--out", "{out}/x.zarr"],
     "stack.tif", "would write over the input"),
    ("index --out zarr", "folder", ["index", "{src}/slices", "--out", "{out}/x.zarr"],
     "slices", "would write inside the input"),
    ("index --csv", "file", ["index", "{src}/stack.tif", "--csv", "{out}/x.csv"],
     "stack.tif", "would write over the input"),
    ("index --csv", "folder", ["index", "{src}/slices", "--csv", "{out}/x.csv"],
     "slices", "would write inside the input"),
    ("index --coords-csv", "file", ["index", "{src}/slices", "--coords-csv", "{out}/x.csv"],
     "slices/z1.png", "would write inside the input"),
    ("index --coords-csv", "folder", ["index", "{src}/slices", "--coords-csv",
                                       "{out}/x.csv"], "slices", "would write inside"),
    ("rle encode --out", "file", ["rle", "encode", "{src}/masks/a.png", "--out",
                                  "{out}/x.rle.json"], "masks/a.png", "would write over"),
    ("rle encode --out", "folder", ["rle", "encode", "{src}/masks", "--out", "{out}"],
     "masks", "is inside the input"),
    ("rle encode --out", "folder", ["rle", "encode", "{src}/masks", "--out", "{out}"],
     ".", "contains the input"),
    ("rle decode --out", "file", ["rle", "decode", "{src}/rle/a.rle.json", "--out",
                                  "{out}/x.tif"], "rle/a.rle.json", "would write over"),
    ("rle decode --out", "folder", ["rle", "decode", "{src}/rle", "--out", "{out}"],
     "rle", "is inside the input"),
    ("export coco --out", "file", ["export", "coco", "{src}/masks", "--out", "{out}/x.json"],
     "masks/a.png", "would write inside the input"),
    ("export coco --out", "folder", ["export", "coco", "{src}/masks", "--out",
                                     "{out}/x.json"], "masks", "would write inside"),
    ("export crops --out", "file", ["export", "crops", "{src}/stack.tif", "--out", "{out}"],
     "stack.tif", "exists and is not a folder"),
    ("export crops --out", "folder", ["export", "crops", "{src}/stack.tif", "--out", "{out}"],
     ".", "is the folder holding the input"),
    ("export crops --out", "folder", ["export", "crops", "{src}/slices", "--out", "{out}"],
     "slices", "is inside the input"),
    ("export read-coco --out", "folder", ["export", "read-coco", "{src}/coco.json", "--out",
                                          "{out}"], ".", "is the folder holding the input"),
    ("patches --out", "file", ["patches", "{src}/images", "--masks", "{src}/masks", "--size",
                               "8", "--n", "4", "--out", "{out}/x.npz"], "images/a.png",
     "would write inside the input"),
    ("patches --out", "folder", ["patches", "{src}/images", "--masks", "{src}/masks",
                                 "--size", "8", "--n", "4", "--out", "{out}/x.npz"], "masks",
     "would write inside the input"),
    ("measure --csv", "file", ["measure", "{src}/stack.tif", "--csv", "{out}/x.csv"],
     "stack.tif", "would write over the input"),
    ("measure --csv", "folder", ["measure", "{src}/slices", "--csv", "{out}/x.csv"],
     "slices", "would write inside the input"),
    ("qa --csv", "file", ["qa", "{src}/stack.tif", "--csv", "{out}/x.csv"], "stack.tif",
     "would write over the input"),
    ("qa --csv", "folder", ["qa", "{src}/slices", "--csv", "{out}/x.csv"], "slices",
     "would write inside the input"),
]


@pytest.mark.parametrize(("command", "kind", "argv", "target", "message"), _LINKED_OUTPUTS,
                         ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in _LINKED_OUTPUTS])
def test_no_command_writes_through_a_symlink_into_its_sources(
    tmp_path, capsys, command, kind, argv, target, message
):
    src = _labelled_sources(tmp_path)
    before = _snapshot(src)
    work = tmp_path / "work"
    work.mkdir()
    if kind == "file":  # the output path itself is a symlink to a source file
        name = next(a for a in argv if "{out}" in a).replace("{out}", "").lstrip("/")
        out = work if name else work / "out"
        link = work / name if name else out
        link.symlink_to(src / target)
    else:  # the output folder (or the output's folder) is a symlink into the sources
        out = link = work / "link"
        link.symlink_to(src / target)
    args = [a.replace("{src}", str(src)).replace("{out}", str(out)) for a in argv]
    code = main([*args, "--quiet"] if "--quiet" not in args else args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one line
    assert _snapshot(src) == before  # not one byte of the sources changed, nothing added
    assert link.is_symlink() and sorted(p.name for p in work.iterdir()) == [link.name]


def test_default_rle_outputs_never_replace_an_input_through_a_symlink(tmp_path, capsys):
    masks = tmp_path / "m"
    masks.mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.eye(8, dtype=np.uint8) * (2 if name == "a" else 3)).save(
            masks / f"{name}.png")
    (masks / "a.rle.json").symlink_to(masks / "b.png")  # a's output leads to an input
    before = _snapshot(masks)
    assert main(["rle", "encode", str(masks), "--quiet"]) == 2
    assert "would write over the input" in capsys.readouterr().err
    assert _snapshot(masks) == before
    # b.png is no input of this run: the new a.rle.json replaces the link, b.png is kept
    assert main(["rle", "encode", str(masks / "a.png"), "--quiet"]) == 0
    after = _snapshot(masks)
    assert {k: v for k, v in after.items() if k != "a.rle.json"} == {
        k: v for k, v in before.items() if k != "a.rle.json"}
    assert not (masks / "a.rle.json").is_symlink()
    assert rle.decode(rle.load(masks / "a.rle.json")).tolist() == (np.eye(8) * 2).tolist()


def test_a_symlink_planted_in_an_export_folder_is_refused_before_any_work(tmp_path, capsys):
    src = _labelled_sources(tmp_path)
    before = _snapshot(src)
    out = tmp_path / "crops"
    out.mkdir()
    (out / "images").symlink_to(src / "images")
    assert main(["export", "crops", str(src / "stack.tif"), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "through a symlink" in err and "images" in err
    assert main(["export", "read-coco", str(src / "coco.json"), "--out", str(out), "-q"]) == 0
    capsys.readouterr()  # read-coco writes labels/ and classes/ only: images/ untouched
    assert sorted(p.name for p in out.iterdir()) == ["classes", "images", "labels"]
    (out / "labels").rename(tmp_path / "old_labels")
    (out / "labels").symlink_to(src / "masks")
    assert main(["export", "read-coco", str(src / "coco.json"), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "through a symlink" in err and "labels" in err and "Traceback" not in err
    assert _snapshot(src) == before


def test_outputs_inside_folders_that_a_source_symlink_leads_to_are_refused(tmp_path, capsys):
    """A symlinked sub-folder of the sources is a source too (docs/safety.md): no output
    may land in the real folder it leads to."""
    src = _labelled_sources(tmp_path)
    extra_images, extra_masks = tmp_path / "extra" / "images", tmp_path / "extra" / "masks"
    for folder in (extra_images, extra_masks):
        folder.mkdir(parents=True)
    for name in ("c.png",):
        (extra_images / name).write_bytes((src / "images" / "a.png").read_bytes())
        (extra_masks / name).write_bytes((src / "masks" / "a.png").read_bytes())
    (src / "images" / "more").symlink_to(extra_images)
    (src / "masks" / "more").symlink_to(extra_masks)
    before, extra_before = _snapshot(src), _snapshot(tmp_path / "extra")
    runs = [
        (["patches", str(src / "images"), "--masks", str(src / "masks"), "--size", "8",
          "--n", "4", "--quiet", "--out", str(extra_images / "p.npz")], extra_images),
        (["export", "coco", str(src / "masks"), "--quiet", "--out",
          str(extra_masks / "c.json")], extra_masks),
        (["rle", "encode", str(src / "masks"), "--quiet", "--out",
          str(extra_masks / "rle")], extra_masks),
        (["rle", "encode", str(src / "masks"), "--quiet", "--out",
          str(extra_masks / "one.rle.json")], extra_masks),
    ]
    wrong = []
    for argv, folder in runs:
        code = main(argv)
        err = capsys.readouterr().err
        if code != 2 or "input" not in err or str(io.real(folder)) not in err:
            wrong.append((argv[:2], code, err))
    assert not wrong
    assert _snapshot(src) == before and _snapshot(tmp_path / "extra") == extra_before


def test_python_writers_replace_a_symlink_never_the_file_behind_it(tmp_path):
    """The Python API has no list of sources: a path that is a symlink is replaced by
    the new file (an atomic rename over the link), never written through."""
    from labelprep import export

    src = _labelled_sources(tmp_path)
    before = _snapshot(src)
    labels = tifffile.imread(src / "stack.tif")
    idx = LabelIndex.build(labels)
    work = tmp_path / "work"
    work.mkdir()
    writes = {
        "i.npz": lambda p: idx.save(p),
        "c.csv": lambda p: idx.write_coords_csv(p),
        "r.rle.json": lambda p: rle.save(p, rle.encode(labels)),
        "k.json": lambda p: export.coco(labels[1], out=p),
    }
    for name, write in writes.items():
        link = work / name
        link.symlink_to(src / "stack.tif")
        write(link)
        assert not link.is_symlink() and link.is_file() and link.stat().st_size > 0
    assert _snapshot(src) == before
    assert LabelIndex.load(work / "i.npz").labels.tolist() == [1, 2]
    assert rle.decode(rle.load(work / "r.rle.json")).tolist() == labels.tolist()


# ------------------------------------------------------------------ 2. corrupt inputs
@pytest.mark.parametrize("mode", ["L", "LA", "1", "RGB"])
def test_a_png_with_one_flipped_pixel_byte_fails_everywhere(tmp_path, mode):
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 255, (64, 64, 2 if mode == "LA" else 3), dtype=np.uint8)
    im = Image.fromarray(arr[..., :2] if mode == "LA" else arr[..., 0] if mode in "L1" else arr,
                         "LA" if mode == "LA" else None)
    im = im.convert(mode)
    path = tmp_path / "src" / "m.png"
    path.parent.mkdir()
    im.save(path)
    _flip_idat_byte(path)
    with pytest.raises(ImageReadError, match="m.png"):
        io.read_image(path)
    with pytest.raises(ImageReadError, match="m.png"):
        io.read_image_pooled(path, io.BufferPool())
    rep = presize.folder(tmp_path / "src", tmp_path / "dst", 20, workers=1)
    assert rep.written == 0 and [p.name for p, _ in rep.failed] == ["m.png"]
    assert presize.JOURNAL_NAME not in [p.name for p in (tmp_path / "dst").glob("*")] or (
        "m.png" not in (tmp_path / "dst" / presize.JOURNAL_NAME).read_text())


def test_a_corrupt_mask_fails_its_pair(tmp_path):
    src, masks = tmp_path / "s", tmp_path / "m"
    _jpeg(src / "a.jpg")
    masks.mkdir()
    Image.fromarray(np.ones((120, 160), np.uint8)).convert("1").save(masks / "a.png")
    _flip_idat_byte(masks / "a.png")
    rep = presize.folder(src, tmp_path / "d", 40, masks=masks, masks_out=tmp_path / "md",
                         workers=1)
    assert [p.name for p, _ in rep.failed] == ["a.jpg"]
    assert not (tmp_path / "md" / "a.png").exists()


# ------------------------------------------------------------------ 3. truncated outputs
def test_a_short_write_on_a_full_disk_is_an_error_and_keeps_the_old_file(full_disk):
    target = full_disk / "big.jpg"
    target.write_bytes(b"old")
    noise = np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    with pytest.raises(OutputError, match="big.jpg"), io.atomic_open(target, "wb") as f:
        Image.fromarray(noise).save(f, format="JPEG", quality=100)  # > 256 KiB
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in full_disk.iterdir()) == ["big.jpg"]  # no temporary


def test_presize_on_a_full_disk_reports_failures_and_resume_redoes_them(tmp_path, full_disk):
    src = tmp_path / "s"
    for i in range(6):
        _jpeg(src / f"{i}.jpg", hw=(700, 700), seed=i)
    rep = presize.folder(src, full_disk / "d", 600, workers=1)
    assert rep.failed, "the disk should have filled up"
    for path, reason in rep.failed:
        assert "No space left" in reason
        assert not (full_disk / "d" / path).exists()  # nothing half-written in place
    assert not [p for p in (full_disk / "d").iterdir() if io.stale_temporaries([full_disk])]
    written = {r.source.name for r in rep.results if r.status == "written"}
    # a resumed run trusts only what completed writes recorded
    again = presize.folder(src, full_disk / "d", 600, workers=1)
    assert {r.source.name for r in again.results if r.status == "skipped"} == written


def test_resume_never_trusts_a_file_it_did_not_record(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    _jpeg(src / "a.jpg")
    dst.mkdir()
    (dst / "a.jpg").write_bytes(b"half a jpeg")  # newer than its source, as a crash leaves it
    rep = presize.folder(src, dst, 40, workers=1)
    assert rep.written == 1 and rep.skipped == 0
    assert io.read_image(dst / "a.jpg").shape[:2] == (40, 53)
    (dst / "a.jpg").write_bytes(b"truncated")  # damaged after a completed run
    assert presize.folder(src, dst, 40, workers=1).written == 1


# ------------------------------------------------------------------ 4. wrong values
def test_one_bit_pngs_read_as_zero_and_one_everywhere(tmp_path):
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:7] = True
    Image.fromarray(mask).save(tmp_path / "m.png")
    got = io.read_image(tmp_path / "m.png")
    assert got.dtype == bool and got.view(np.uint8).max() == 1
    np.testing.assert_array_equal(got, mask)
    idx = LabelIndex.build(got)
    assert 1 in idx and idx.labels.tolist() == [1] and idx.size(1) == 12
    assert main(["rle", "encode", str(tmp_path / "m.png"), "--quiet"]) == 0
    np.testing.assert_array_equal(rle.decode(rle.load(tmp_path / "m.rle.json")), mask)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.uint16, np.int64, np.uint64])
def test_resampling_saturates_at_the_dtype_range(dtype):
    info = np.iinfo(dtype)
    top = presize.image(np.full((100, 100), info.max, dtype), 10)
    assert top.dtype == dtype and top.min() >= info.max - 2048  # float rounding, no wrap
    if info.min < 0:
        bottom = presize.image(np.full((100, 100), info.min, dtype), 10)
        assert bottom.max() <= info.min + 2048


def test_presize_folder_keeps_a_saturated_tiff(tmp_path):
    (tmp_path / "s").mkdir()
    tifffile.imwrite(tmp_path / "s" / "t.tif", np.full((100, 100), 2**32 - 1, np.uint32))
    rep = presize.folder(tmp_path / "s", tmp_path / "d", 10, workers=1)
    assert rep.written == 1
    assert (tifffile.imread(tmp_path / "d" / "t.tif") == 2**32 - 1).all()


def test_an_intensity_stack_is_indexed_with_a_warning(tmp_path, capsys):
    ramp = np.add.outer(np.arange(60), np.arange(70)).astype(np.uint16) * 30
    stack = np.stack([ramp + z for z in range(8)])
    tifffile.imwrite(tmp_path / "grey.tif", stack)
    assert main(["index", str(tmp_path / "grey.tif"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "intensity image" in captured.err
    labels = np.zeros((8, 60, 70), np.uint16)
    labels[:, 10:20, 10:30] = 4
    assert io.intensity_warning(labels) is None


# ------------------------------------------------------------------ 5. output paths
def test_two_masks_that_would_share_one_output_are_refused_before_any_work(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 3), np.uint8))
    tifffile.imwrite(tmp_path / "x.tif", np.ones((3, 3), np.uint8))
    assert main(["rle", "encode", str(tmp_path), "--quiet"]) == 2
    assert "would both be written" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_output_names_and_folders_are_checked_up_front(tmp_path, capsys):
    r = rle.encode(np.zeros((3, 3), np.uint8))
    rle.save(tmp_path / "a.rle.json", r)
    assert main(["rle", "decode", str(tmp_path / "a.rle.json"), "--out",
                 str(tmp_path / "x.jpg")]) == 2
    assert not (tmp_path / "x.jpg").exists() and "x.jpg" in capsys.readouterr().err
    np.save(tmp_path / "s.npy", np.zeros((4, 4), np.uint8))
    assert main(["index", str(tmp_path / "s.npy"), "--out", str(tmp_path / "o.txt")]) == 2
    assert "must end with .npz or .zarr" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "s.npy"), "--csv", "/nonexistent/dir/o.csv"]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and "objects" not in captured.out
    assert main(["index", str(tmp_path / "s.npy"), "--csv", str(tmp_path / "s.npy")]) == 2
    assert main(["index", str(tmp_path / "s.npy"), "--out", str(tmp_path / "s.npy")]) == 2


# ------------------------------------------------------------------ 6. bad files, one at a time
def _bomb_png(path: Path) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_bad_files_fail_alone_and_the_batch_goes_on(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    good = np.zeros((20, 20), np.uint8)
    good[3:9, 4:12] = 5
    tifffile.imwrite(folder / "a_good.tif", good)
    tifffile.imwrite(folder / "b_trunc.tif", np.random.default_rng(0).integers(
        0, 9, (64, 64), dtype=np.uint8), compression="zlib")
    data = (folder / "b_trunc.tif").read_bytes()
    (folder / "b_trunc.tif").write_bytes(data[: len(data) - 40])
    _bomb_png(folder / "c_bomb.png")
    np.save(folder / "d_good.npy", good)
    code = main(["rle", "encode", str(folder), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "b_trunc.tif" in err and "c_bomb.png" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_good.rle.json", "d_good.rle.json"]


def test_hostile_rle_files_fail_alone(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "nested.rle.json").write_text("[" * 100_000 + "]" * 100_000)
    (inputs / "bigint.rle.json").write_text('{"size":[1],"values":[' + "9" * 5000
                                              + '],"counts":[1]}')
    huge = {"size": [1_000_000, 1_000_000], "values": [0], "counts": [10**12]}
    (inputs / "huge.rle.json").write_text(json.dumps(huge))
    assert (inputs / "huge.rle.json").stat().st_size < 100
    rle.save(inputs / "ok.rle.json", rle.encode(np.eye(3, dtype=np.uint8)))
    code = main(["rle", "decode", str(inputs), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "nested too deeply" in err and "bigint" in err and "more than this machine" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok.tif"]
    assert main(["rle", "info", str(inputs / "nested.rle.json"),
                 str(tmp_path / "ok.rle.json")]) == 1


def test_a_truncated_zarr_chunk_is_one_line_naming_the_store(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    store = tmp_path / "s.zarr"
    z = zarr.create_array(store, shape=(4, 32, 32), chunks=(1, 32, 32), dtype="uint16")
    z[:] = np.arange(4 * 32 * 32, dtype=np.uint16).reshape(4, 32, 32) % 7
    chunk = max((p for p in store.rglob("*") if p.is_file() and p.name != "zarr.json"),
                key=lambda p: p.stat().st_size)
    chunk.write_bytes(chunk.read_bytes()[:10])
    code = main(["index", str(store), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "s.zarr" in err and "chunk" in err


def test_a_tiff_declaring_more_than_the_machine_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.tif"
    # a sparse file: its header declares 2**17 x 2**17 uint16 (32 GiB), no data written
    tifffile.imwrite(big, shape=(2**17, 2**17), dtype=np.uint16, bigtiff=True)
    with pytest.raises(ImageReadError, match="more than this machine"):
        io.read_image(big)


# ------------------------------------------------------------------ 7. tampered index files
@pytest.mark.parametrize("field,value,message", [
    ("shape", np.array([-4, -5]), "negative axis"),
    ("background", np.array("300"), "'background' 300 cannot occur"),
    ("dtype", np.array("<U3"), "not an integer, bool or float"),
    ("bboxes", None, "'bboxes' do not match"),
    ("centroids", None, "'centroids' do not match"),
    ("voxel_indices", None, "out of range or not ascending"),
])
def test_tampered_index_files_are_refused_naming_the_field(tmp_path, field, value, message):
    lab = np.zeros((4, 5), np.uint8)
    lab[1:3, 1:3] = 3
    lab[0, 4] = 7
    LabelIndex.build(lab).save(tmp_path / "ok.npz")
    arrays = dict(np.load(tmp_path / "ok.npz"))
    if value is None:
        value = arrays[field].copy()
        value.flat[0] = value.flat[0] + 3 if field != "voxel_indices" else 999
    arrays[field] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        LabelIndex.load(tmp_path / "bad.npz")


def test_a_bool_index_holding_label_9_and_a_2kb_bomb_are_refused(tmp_path):
    LabelIndex.build(np.eye(4, dtype=bool)).save(tmp_path / "b.npz")
    arrays = dict(np.load(tmp_path / "b.npz"))
    arrays["labels"] = np.array([9], np.uint8)
    np.savez(tmp_path / "nine.npz", **arrays)
    with pytest.raises(ValueError, match="outside the range of a bool stack"):
        LabelIndex.load(tmp_path / "nine.npz")
    import io as pyio
    import zipfile

    header = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<u4", "fortran_order": False, "shape": (10**10,)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = pyio.BytesIO()
            np.save(buf, arr)
            zf.writestr(f"{key}.npy", header.getvalue() if key == "voxel_indices"
                        else buf.getvalue())
    assert (tmp_path / "bomb.npz").stat().st_size < 4096
    with pytest.raises(ValueError, match="declares 40000000000 bytes"):
        LabelIndex.load(tmp_path / "bomb.npz")


# ------------------------------------------------------------------ 8. modes and litter
def test_outputs_get_the_umask_mode_even_over_a_0600_file(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "t.csv"
        target.write_text("old")
        target.chmod(0o600)
        with io.atomic_open(target, "w") as f:
            f.write("new")
        assert target.stat().st_mode & 0o777 == 0o644
        rle.save(tmp_path / "r.rle.json", rle.encode(np.zeros(3, np.uint8)))
        assert (tmp_path / "r.rle.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_killed_write_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    _jpeg(src / "a.jpg")
    dst.mkdir()
    script = (
        "import os, signal, sys\n"
        "from labelprep.io import atomic_open\n"
        "with atomic_open(sys.argv[1], 'wb') as f:\n"
        "    f.write(b'x' * 100000); f.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(dst / "a.jpg")])
    assert done.returncode == -signal.SIGKILL
    litter = io.stale_temporaries([dst])
    assert len(litter) == 1 and litter[0].name.startswith(".a.jpg.lp")
    assert not (dst / "a.jpg").exists()  # the killed write replaced nothing
    rep = presize.folder(src, dst, 40, workers=1)
    assert rep.removed == litter and "temporary files" in rep.summary()
    assert not litter[0].exists() and rep.written == 1


# ------------------------------------------------------------------ 10. smaller ones
def test_float_values_beyond_int64_labels_say_so():
    for value in (-(2.0**63), 1e19):
        with pytest.raises(TypeError, match="outside the range"):
            LabelIndex.build(np.array([[0.0, value]]))


def test_a_compact_number_of_65_bits_is_refused():
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        rle.decode({"size": [1], "dtype": "int64", "values": chr(80) * 12 + chr(56),
                    "counts": "1"})


def test_a_file_name_that_is_not_utf8_does_not_crash_the_printout(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    name = os.fsdecode(b"mask\xff.npy")
    np.save(folder / name, np.zeros((3, 3), np.uint8))
    (folder / os.fsdecode(b"bad\xfe.png")).write_bytes(b"not a png")
    done = subprocess.run([sys.executable, "-m", "labelprep.cli", "rle", "encode", str(folder),
                           "--out", str(tmp_path / "o")], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr and b"bad" in done.stderr
    assert len(list((tmp_path / "o").iterdir())) == 1


def test_a_zarr_index_on_a_full_disk_is_one_line(tmp_path, full_disk):
    pytest.importorskip("zarr")
    stack = np.random.default_rng(0).integers(0, 5000, (40, 100, 100)).astype(np.uint32)
    np.save(tmp_path / "s.npy", stack)
    done = subprocess.run([sys.executable, "-m", "labelprep.cli", "index",
                           str(tmp_path / "s.npy"), "--out", str(full_disk / "x.zarr"),
                           "--quiet"], capture_output=True, text=True)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "x.zarr" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "asyncio" not in done.stderr


def test_a_tampered_zarr_index_is_refused_naming_the_field(tmp_path):
    zarr = pytest.importorskip("zarr")
    from labelprep.chunked import open_index, save_zarr

    lab = np.zeros((6, 7, 8), np.uint16)
    lab[1:3, 1:4, 2:6] = 5
    lab[4, 5, 6] = 9
    save_zarr(LabelIndex.build(lab), tmp_path / "ok.zarr")
    assert open_index(tmp_path / "ok.zarr").coords(9).tolist() == [[4, 5, 6]]
    group = zarr.open_group(tmp_path / "ok.zarr", mode="r+")
    voxels = group["voxel_indices"]
    voxels[0] = 6 * 7 * 8 + 5  # out of the stack
    with pytest.raises(ValueError, match="out of range or not ascending"):
        open_index(tmp_path / "ok.zarr")
    voxels[0], voxels[1] = voxels[1], voxels[0]  # back in range, but out of order
    with pytest.raises(ValueError, match="out of range or not ascending"):
        open_index(tmp_path / "ok.zarr")
    group.attrs["background"] = 70000
    with pytest.raises(ValueError, match="cannot occur in a uint16 stack"):
        open_index(tmp_path / "ok.zarr")


def test_index_checks_in_windows_find_what_one_pass_finds():
    """validate reads an on-disk index's voxels a window at a time: a disorder or a wrong
    box across a window's edge is found as in one pass."""
    from labelprep._index_file import validate

    lab = np.zeros((5, 40), np.uint8)
    lab[:, 3:30] = 2
    lab[2, 35] = 4
    idx = LabelIndex.build(lab)
    for window in (1, 3, 7, 64, None):
        validate(idx, window=window)  # a good index passes in any window
    bad = idx.voxel_indices.copy()
    bad[[6, 7]] = bad[[7, 6]]  # swapped across the edge of a window of 7
    for window in (1, 3, 7, None):
        with pytest.raises(ValueError, match="not ascending"):
            validate(idx, voxels=bad, window=window)


def test_index_and_patches_name_a_truncated_tiff_in_one_line(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", np.random.default_rng(0).integers(
        0, 9, (8, 64, 64), dtype=np.uint8), compression="zlib")
    data = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "s.tif").write_bytes(data[: len(data) - 100])
    assert main(["index", str(tmp_path / "s.tif"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "s.tif" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        _jpeg(tmp_path / "imgs" / f"{i}.jpg", hw=(64, 64), seed=i)
    (tmp_path / "imgs" / "1.jpg").write_bytes((tmp_path / "imgs" / "1.jpg").read_bytes()[:300])
    code = main(["patches", str(tmp_path / "imgs"), "--size", "16", "--n", "20", "--out",
                 str(tmp_path / "p.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "1.jpg" in err and "Traceback" not in err
    with np.load(tmp_path / "p.npz") as npz:
        assert npz["images"].shape[0] == 20
