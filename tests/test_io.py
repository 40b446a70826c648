import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelprep import io


def test_read_image_formats_roundtrip(tmp_path, rng):
    grey = rng.integers(0, 255, size=(20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    deep = rng.integers(0, 65535, size=(20, 30), dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(deep).save(tmp_path / "d.png")
    tifffile.imwrite(tmp_path / "t.tif", deep)
    np.save(tmp_path / "n.npy", deep)
    np.testing.assert_array_equal(io.read_image(tmp_path / "g.png"), grey)
    np.testing.assert_array_equal(io.read_image(tmp_path / "c.png"), rgb)
    got16 = io.read_image(tmp_path / "d.png")
    assert got16.dtype == np.uint16
    np.testing.assert_array_equal(got16, deep)
    np.testing.assert_array_equal(io.read_image(tmp_path / "t.tif"), deep)
    np.testing.assert_array_equal(io.read_image(tmp_path / "n.npy"), deep)


def test_read_image_palette_keeps_label_ids(tmp_path):
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:5, 3:6] = 7
    im = Image.fromarray(mask, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0] * 128)
    im.save(tmp_path / "m.png")
    np.testing.assert_array_equal(io.read_image(tmp_path / "m.png"), mask)


def test_read_image_applies_exif_orientation(tmp_path):
    data = np.zeros((10, 20, 3), dtype=np.uint8)
    data[0, 0] = 255
    im = Image.fromarray(data)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = io.read_image(tmp_path / "r.jpg")
    assert out.shape == (20, 10, 3)


@pytest.mark.parametrize("name", ["bad.png", "bad.jpg", "bad.tif", "bad.npy"])
def test_corrupt_file_error_names_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(io.ImageReadError, match=name):
        io.read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        io.read_image(tmp_path / "nope.png")


def test_read_stack_tiff_npy_and_folder(tmp_path, rng):
    stack = rng.integers(0, 500, size=(12, 9, 7)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stack)
    np.save(tmp_path / "s.npy", stack)
    folder = tmp_path / "slices"
    folder.mkdir()
    for z in range(stack.shape[0]):  # z2 must come before z10: natural sort
        tifffile.imwrite(folder / f"z{z}.tif", stack[z])
    calls = []
    np.testing.assert_array_equal(io.read_stack(tmp_path / "s.tif"), stack)
    np.testing.assert_array_equal(io.read_stack(tmp_path / "s.npy"), stack)
    np.testing.assert_array_equal(
        io.read_stack(folder, progress=lambda d, t: calls.append((d, t))), stack
    )
    assert calls[-1] == (12, 12) and len(calls) == 12


def test_read_stack_folder_mismatch_and_empty(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    with pytest.raises(ValueError, match="no image slices"):
        io.read_stack(folder)
    tifffile.imwrite(folder / "a1.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(folder / "a2.tif", np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="a2.tif"):
        io.read_stack(folder)


def test_list_images_recursive_sorted_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for rel in ["a10.png", "a2.png", "b/c.JPG", ".hidden/x.png", "notes.txt", ".y.png"]:
        (tmp_path / rel).write_bytes(b"")
    got = [p.relative_to(tmp_path).as_posix() for p in io.list_images(tmp_path)]
    assert got == ["a2.png", "a10.png", "b/c.JPG"]


def test_atomic_open_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_open(target, "w") as f:
        f.write("half")
        raise RuntimeError("simulated failure mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    with io.atomic_open(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    with pytest.raises(ValueError, match="writing"), io.atomic_open(target, "r"):
        pass


def test_atomic_path_keeps_suffix_and_reports_missing_folder(tmp_path):
    with io.atomic_path(tmp_path / "img.png", suffix=".png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp)
    assert io.read_image(tmp_path / "img.png").shape == (2, 2)
    with pytest.raises(FileNotFoundError, match="cannot write"):
        with io.atomic_path(tmp_path / "missing" / "x.txt"):
            pass


def test_images_by_stem_keys_by_folder_and_stem_and_excludes(tmp_path):
    for rel in ["a/x.png", "a/x.tif", "a/y.png", "z.png", "out/a/x.png", "a/notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = io.images_by_stem(tmp_path, exclude=[tmp_path / "out"])
    assert {k: [p.relative_to(tmp_path).as_posix() for p in v] for k, v in got.items()} == {
        ("a", "x"): ["a/x.png", "a/x.tif"],  # two candidates: the caller calls it ambiguous
        ("a", "y"): ["a/y.png"],
        (".", "z"): ["z.png"],
    }


def _pooled_cases(tmp_path, rng):
    """Files of every kind read_image handles, for comparing read_image_pooled with it."""
    grey = rng.integers(0, 255, size=(20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    rgba = rng.integers(0, 255, size=(20, 30, 4), dtype=np.uint8)
    deep = rng.integers(0, 65535, size=(20, 30), dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(deep).save(tmp_path / "d.png")
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=90)
    Image.fromarray(grey).save(tmp_path / "g.jpg", quality=90)
    Image.fromarray(grey > 128).save(tmp_path / "b.png")  # mode "1": read the usual way
    pal = Image.fromarray(grey % 8, mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0] * 128)
    pal.save(tmp_path / "p.png")
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    tifffile.imwrite(tmp_path / "t.tif", deep)
    np.save(tmp_path / "n.npy", deep)
    return sorted(tmp_path.iterdir())


def test_read_image_pooled_equals_read_image(tmp_path, rng):
    pool = io.BufferPool()
    decoded_in_place = {"g.png", "c.png", "a.png", "d.png", "p.png", "c.jpg", "g.jpg"}
    for path in _pooled_cases(tmp_path, rng):
        before = None
        for _ in range(2):  # the second read decodes into the released buffer
            want = io.read_image(path)
            got = io.read_image_pooled(path, pool)
            assert got.shape == want.shape and got.dtype == want.dtype, path.name
            np.testing.assert_array_equal(got, want, err_msg=path.name)
            assert got.flags.writeable == want.flags.writeable, path.name
            if before is not None:
                assert np.shares_memory(got, before) == (path.name in decoded_in_place)
            pool.release(got)
            before = got


def test_buffer_pool_reuses_released_memory_only(tmp_path, rng):
    Image.fromarray(rng.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)).save(
        tmp_path / "c.jpg"
    )
    Image.fromarray(rng.integers(0, 255, size=(20, 30), dtype=np.uint8)).save(tmp_path / "m.png")
    pool = io.BufferPool(max_free=1)
    first = io.read_image_pooled(tmp_path / "c.jpg", pool)
    second = io.read_image_pooled(tmp_path / "c.jpg", pool)
    assert not np.shares_memory(first, second)  # not released: never handed out twice
    pool.release(first)
    pool.release(first)  # releasing twice keeps one free copy
    pool.release(np.zeros((20, 30, 4), np.uint8))  # not from the pool: ignored
    third = io.read_image_pooled(tmp_path / "c.jpg", pool)
    assert np.shares_memory(first, third)
    np.testing.assert_array_equal(third, io.read_image(tmp_path / "c.jpg"))
    mask = io.read_image_pooled(tmp_path / "m.png", pool)  # another shape: a new buffer
    assert not np.shares_memory(mask, third)
    np.testing.assert_array_equal(mask, io.read_image(tmp_path / "m.png"))


def test_buffer_pool_ignores_crops_and_parts_of_an_image(tmp_path, rng):
    """Releasing a crop must not recycle the whole image the caller still uses."""
    Image.fromarray(rng.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)).save(
        tmp_path / "c.png"
    )
    pool = io.BufferPool()
    image = io.read_image_pooled(tmp_path / "c.png", pool)
    kept = image.copy()
    for part in (image[2:10], image[:, 5:], image[..., 1:], image[::2]):
        pool.release(part)
    other = io.read_image_pooled(tmp_path / "c.png", pool)
    assert not np.shares_memory(image, other)
    np.testing.assert_array_equal(image, kept)
    pool.release(image)  # the whole image: recycled
    assert np.shares_memory(image, io.read_image_pooled(tmp_path / "c.png", pool))


@pytest.mark.parametrize("name", ["bad.png", "bad.jpg", "bad.tif", "bad.npy"])
def test_read_image_pooled_corrupt_and_missing_files(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(io.ImageReadError, match=name):
        io.read_image_pooled(path, io.BufferPool())
    with pytest.raises(FileNotFoundError, match="nope"):
        io.read_image_pooled(tmp_path / f"nope{path.suffix}", io.BufferPool())


def test_read_image_pooled_truncated_jpeg_names_file(tmp_path, rng):
    path = tmp_path / "cut.jpg"
    Image.fromarray(rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(io.ImageReadError, match="cut.jpg"):
        io.read_image_pooled(path, io.BufferPool())


def test_decode_into_gives_the_pixels_of_pillow_or_none(tmp_path, rng):
    _pooled_cases(tmp_path, rng)
    Image.fromarray(rng.integers(0, 255, size=(20, 30), dtype=np.uint8)).save(tmp_path / "x.bmp")
    direct = {"g.png", "c.png", "a.png", "d.png", "p.png", "c.jpg", "g.jpg", "r.jpg"}
    for path in sorted(tmp_path.glob("*.*")):
        if path.suffix in (".tif", ".npy"):
            continue
        with Image.open(path) as ref:
            want = np.asarray(ref)
        with Image.open(path) as im:
            got = io.decode_into(im)
            assert (got is not None) == (path.name in direct), path.name
            if got is not None:
                np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=path.name)
                assert got.shape == want.shape and got.flags.writeable
            np.testing.assert_array_equal(np.asarray(im), want)  # im is loaded and usable
            assert io.decode_into(im) is None  # already loaded


def test_output_tree_creates_a_folder_that_several_threads_want_at_once(tmp_path):
    """Two workers making the same missing folder: neither is refused (a race seen in
    the threaded presize run)."""
    import threading

    for trial in range(200):  # the destination itself and its sub-folders are all new
        tree = io.OutputTree(tmp_path / f"d{trial}", [tmp_path / "s"])
        errors = []

        def prepare(i, tree=tree, trial=trial, errors=errors):
            try:
                tree.prepare(tmp_path / f"d{trial}" / "a" / "b" / f"{i}.png")
            except Exception as exc:  # noqa: BLE001 - collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=prepare, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


# ---------------------------------------------------------------- read_json
def test_read_json_reads_utf8_with_or_without_a_bom(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes('{"name": "Zoë", "n": [1, 2]}'.encode())
    assert io.read_json(path) == {"name": "Zoë", "n": [1, 2]}
    path.write_bytes(b"\xef\xbb\xbf" + '{"name": "Zoë"}'.encode())
    assert io.read_json(str(path)) == {"name": "Zoë"}


def test_read_json_malformed_names_the_file_and_the_position(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('{\n  "images": [],\n  "annotations": [1 2]\n}\n')
    with pytest.raises(io.JSONReadError) as info:
        io.read_json(path, what="COCO annotations")
    exc = info.value
    assert isinstance(exc, io.ImageReadError) and isinstance(exc, ValueError)
    assert (exc.line, exc.column) == (3, 21)
    assert exc.path == path
    message = str(exc)
    assert str(path) in message and "COCO annotations" in message
    assert "not a valid JSON file" in message and "line 3, column 21" in message
    assert "Expecting ',' delimiter" in message


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b" \n\t\n", "only white space"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"n": ' + b"9" * 5000 + b"}", "a number too long"),
])
def test_read_json_empty_blank_deep_and_huge_numbers(tmp_path, content, reason):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(io.JSONReadError, match=reason) as info:
        io.read_json(path)
    assert str(path) in str(info.value) and "not a valid JSON file" in str(info.value)
    assert "\n" not in str(info.value)


def test_read_json_binary_garbage_says_it_is_not_utf8_and_where(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(b'{"a":\n 1, \xff\xfe\x00\x01\x89PNG}')
    with pytest.raises(io.JSONReadError, match="not UTF-8 text") as info:
        io.read_json(path)
    assert str(path) in str(info.value) and "0xff" in str(info.value)
    assert (info.value.line, info.value.column) == (2, 5)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # a binary file
    with pytest.raises(io.JSONReadError, match="garbage.json.*not UTF-8"):
        io.read_json(path)


def test_read_json_a_folder_a_missing_file_and_a_fifo(tmp_path):
    folder = tmp_path / "ann.json"
    folder.mkdir()
    with pytest.raises(io.ImageReadError, match="ann.json: a folder, not a JSON file"):
        io.read_json(folder)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        io.read_json(tmp_path / "missing.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(io.ImageReadError, match="fifo.json: not a regular file"):
        io.read_json(fifo)  # refused, never blocks waiting for a writer


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_read_json_unreadable_file(tmp_path):
    path = tmp_path / "locked.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        with pytest.raises(io.ImageReadError, match="locked.json: cannot read it"):
            io.read_json(path)
    finally:
        path.chmod(0o644)


def test_read_json_refuses_a_file_larger_than_memory(tmp_path, monkeypatch):
    from labelprep.io import _limits

    path = tmp_path / "big.json"
    path.write_text('{"a": 1}')
    monkeypatch.setattr(_limits, "memory_bytes", lambda: 10)
    with pytest.raises(io.ImageReadError, match="big.json.*more than this machine"):
        io.read_json(path)


# ------------------------------------------------------- one walk for listing and trees
def _old_list_images(folder, suffixes=io.IMAGE_SUFFIXES):
    """list_images as it was before FolderScan (its own walk), for comparison."""
    from pathlib import Path

    from labelprep.io._files import _walk

    root = Path(folder)
    wanted = tuple(s.lower() for s in suffixes)
    found = []
    for dirpath, _dirs, files, _real in _walk(root):
        found.extend(dirpath / name for name in files if name.lower().endswith(wanted))
    rel = {p: p.relative_to(root) for p in found}
    return sorted(found, key=lambda p: [io.natural_key(part) for part in rel[p].parts])


def _old_source_trees(folder):
    """source_trees as it was before FolderScan (its own walk), for comparison."""
    from labelprep.io._files import _walk

    reals = {real for _p, _d, _f, real in _walk(folder)}
    out = []
    for r in sorted(reals, key=lambda p: len(p.parts)):
        if not any(r == o or o in r.parents for o in out):
            out.append(r)
    return out


def _nested_tree_with_links(tmp_path):
    src, outside = tmp_path / "src", tmp_path / "outside"
    for rel in ["a10.png", "a2.PNG", "A1.tif", "x01.npy", "x1.npy", "notes.txt", ".h.png",
                "b/c.JPG", "b/d/e/f.tiff", "b/d/e/g.npy", "b/d/other.txt", "c2/z.png",
                "c10/z.png", ".hidden/x.png", "deep/1/2/3/4/5.png"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"")
    for rel in ["o1.png", "sub/o2.jpg", "sub/o3.json", "sub/more/o4.tif"]:
        (outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (outside / rel).write_bytes(b"")
    (src / "linked").symlink_to(outside)  # a folder outside the tree
    (src / "b" / "again").symlink_to(outside / "sub")  # inside what a link leads to
    (src / "b" / "d" / "up").symlink_to(src / "b")  # a loop
    (src / "deep" / "1" / "self").symlink_to(src / "deep" / "1")  # a loop on itself
    (src / "c2" / "inner").symlink_to(src / "b" / "d" / "e")  # a link inside the tree
    (src / "broken").symlink_to(tmp_path / "nowhere")
    (outside / "sub" / "more" / "back").symlink_to(src)  # back into the tree
    return src, outside


def test_folder_scan_gives_what_the_two_walks_gave(tmp_path):
    src, outside = _nested_tree_with_links(tmp_path)
    for folder in (src, src / "b", outside, src / "linked"):
        for suffixes in (io.IMAGE_SUFFIXES, (".npy",), (".json",), (".PNG", ".jpg")):
            expected = _old_list_images(folder, suffixes)
            assert io.list_images(folder, suffixes) == expected
            assert io.list_images(io.FolderScan(folder), suffixes) == expected
        # the trees the old walk found, in an order of the old (a set's) order
        trees = io.source_trees(folder)
        assert sorted(trees) == sorted(_old_source_trees(folder))
        assert io.source_trees(io.FolderScan(folder)) == trees
        assert [len(t.parts) for t in trees] == sorted(len(t.parts) for t in trees)
        assert io.images_by_stem(io.FolderScan(folder), [src / "b"]) == io.images_by_stem(
            folder, [src / "b"])
    got = [p.relative_to(src).as_posix() for p in io.list_images(src)]
    assert got[:4] == ["A1.tif", "a2.PNG", "a10.png", "b/again/more/o4.tif"]
    assert "linked/o1.png" in got and "c2/inner/f.tiff" not in got  # e/ listed once
    assert sorted(io.source_trees(src)) == sorted([io.real(src), io.real(outside)])
    assert io.source_trees(src / "nothing") == [io.real(src / "nothing")]
    with pytest.raises(NotADirectoryError):
        io.FolderScan(src / "a10.png")
    with pytest.raises(NotADirectoryError):
        io.list_images(src / "nothing")


def test_presize_and_rle_walk_each_input_folder_once(tmp_path, walked):
    from labelprep import presize
    from labelprep.cli import main

    src, masks = tmp_path / "src", tmp_path / "masks"
    for folder in (src / "sub", masks / "sub"):
        folder.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(src / "sub" / "a.png")
    Image.fromarray(np.eye(8, dtype=np.uint8)).save(masks / "sub" / "a.png")
    (src / "link").symlink_to(masks / "sub")
    rep = presize.folder(src, tmp_path / "dst", 4, masks=masks, masks_out=tmp_path / "mo",
                         workers=1)
    assert rep.written == 2 and not rep.failed
    assert sorted(walked) == sorted([src.resolve(), masks.resolve()])
    walked.clear()
    assert main(["rle", "encode", str(masks), "--out", str(tmp_path / "rle"), "--quiet"]) == 0
    assert walked == [masks]
    walked.clear()
    assert main(["rle", "decode", str(tmp_path / "rle"), "--out", str(tmp_path / "back"),
                 "--quiet"]) == 0
    assert walked == [tmp_path / "rle"]


def test_read_json_a_file_that_cannot_be_opened_is_one_error_naming_it(tmp_path, monkeypatch):
    """As test_read_json_unreadable_file, also where it runs as root (who reads anything)."""
    import builtins

    from labelprep.io import _json

    path = tmp_path / "locked.json"
    path.write_text("{}")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_json, "open", refuse, raising=False)
    with pytest.raises(io.ImageReadError, match="locked.json: cannot read it: Permission denied"):
        io.read_json(path)
    monkeypatch.setattr(_json, "open", builtins.open, raising=False)
    assert io.read_json(path) == {}


def test_read_slice_bytes_reads_all_or_nothing(tmp_path, monkeypatch):
    from labelprep.io import _read

    p = tmp_path / "a.bin"
    limit = 2 * 50 + (1 << 20)  # for 50 bytes of pixels
    p.write_bytes(b"x" * limit)
    assert _read.read_slice_bytes(p, 50) == b"x" * limit
    assert _read.read_slice_bytes(p, 49) is None
    # a file that grows past the limit between fstat and read is refused too
    real = _read.os.fstat
    monkeypatch.setattr(_read.os, "fstat", lambda fd: type("S", (), {"st_size": 1})())
    assert _read.read_slice_bytes(p, 25) is None
    monkeypatch.setattr(_read.os, "fstat", real)
    with pytest.raises(FileNotFoundError):
        _read.read_slice_bytes(tmp_path / "missing.bin", 10)
