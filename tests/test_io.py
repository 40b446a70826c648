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
    with pytest.raises(RuntimeError):
        with io.atomic_open(target, "w") as f:
            f.write("half")
            raise RuntimeError("simulated failure mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    with io.atomic_open(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    with pytest.raises(ValueError, match="writing"):
        with io.atomic_open(target, "r"):
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
