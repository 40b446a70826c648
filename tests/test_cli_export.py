"""``labelprep export crops|coco|read-coco``: files in, files out, exit codes, one-line errors.

The subcommand is driven through its own ``add_arguments``/``run`` (as cli.py wires it).
"""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage as ndi

from labelprep._commands import export as command

COCO = pytest.importorskip("pycocotools.coco").COCO


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelprep export")
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def blobs(shape, seed=0):
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal(shape), 3)
    return ndi.label(noise > np.quantile(noise, 0.75))[0].astype(np.uint16)


@pytest.fixture
def stack(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    labels = blobs((6, 40, 50))
    image = np.random.default_rng(1).integers(0, 4000, labels.shape).astype(np.uint16)
    tifffile.imwrite(data / "labels.tif", labels)
    tifffile.imwrite(data / "raw.tif", image)
    return data, labels, image


@pytest.fixture
def dataset(tmp_path):
    images, masks, classes = tmp_path / "images", tmp_path / "masks", tmp_path / "classes"
    arrays = {}
    for k, sub in enumerate(["", "b/"]):
        for d in (images, masks, classes):
            (d / sub).mkdir(parents=True, exist_ok=True)
        m = blobs((50, 60), seed=k)
        Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(images / f"{sub}p{k}.jpg")
        Image.fromarray(m).save(masks / f"{sub}p{k}.png")
        Image.fromarray(np.where(m > 0, 1 + m % 2, 0).astype(np.uint8)).save(
            classes / f"{sub}p{k}.png")
        arrays[f"{sub}p{k}"] = m
    return images, masks, classes, arrays


# ----------------------------------------------------------------------------- crops
def test_crops_stack_with_image(stack, tmp_path, capsys):
    data, labels, image = stack
    out = tmp_path / "crops"
    assert main(["crops", str(data / "labels.tif"), "--image", str(data / "raw.tif"),
                 "--out", str(out), "--pad", "1", "2", "2", "-q"]) == 0
    assert "wrote" in capsys.readouterr().out
    with open(out / "crops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["label"]) for r in rows] == np.unique(labels[labels > 0]).tolist()
    r = rows[3]
    box = tuple(slice(max(0, int(r[f"{a}_start"]) - p), int(r[f"{a}_stop"]) + p)
                for a, p in zip("zyx", (1, 2, 2)))
    np.testing.assert_array_equal(tifffile.imread(out / r["image_file"]), image[box])
    np.testing.assert_array_equal(tifffile.imread(out / r["mask_file"]),
                                  (labels[box] == int(r["label"])).astype(np.uint8))


def test_crops_size_format_objects(stack, tmp_path):
    data, labels, _ = stack
    out = tmp_path / "crops"
    assert main(["crops", str(data / "labels.tif"), "--out", str(out), "--size", "8",
                 "--format", "npz", "--objects", "2", "3", "--mask", "labels", "-q"]) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["2.npz", "3.npz"]
    with np.load(out / "masks" / "2.npz") as z:
        assert z["mask"].shape == (8, 8, 8)


@pytest.mark.parametrize(("extra", "message"), [
    (["--format", "png"], "png' is for 2D"),
    (["--pad", "1", "--size", "4"], "pad or size"),
    (["--objects", "9999"], "objects not in labels: 9999"),
    (["--pad", "1", "2"], "pad must be an int or 3 ints"),
])
def test_crops_bad_arguments_exit_2(stack, tmp_path, capsys, extra, message):
    data, _, _ = stack
    out = tmp_path / "crops"
    assert main(["crops", str(data / "labels.tif"), "--out", str(out), "-q", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (out / "crops.csv").exists()


def test_crops_refuses_bad_paths(stack, tmp_path, capsys):
    data, _, _ = stack
    labels = str(data / "labels.tif")
    assert main(["crops", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "c")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["crops", labels, "--out", str(data)]) == 2  # the folder holding an input
    assert "folder holding the input" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["crops", labels, "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["crops", labels, "--image", str(data / "raw.tif"), "--out",
                 str(data / "raw.tif" / "x")]) == 2
    assert sorted(p.name for p in data.iterdir()) == ["labels.tif", "raw.tif"]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    assert main(["crops", str(bad), "--out", str(tmp_path / "c")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_crops_shape_mismatch_exit_2(stack, tmp_path, capsys):
    data, labels, _ = stack
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((6, 40, 10), np.uint8))
    assert main(["crops", str(data / "labels.tif"), "--image", str(tmp_path / "small.tif"),
                 "--out", str(tmp_path / "c")]) == 2
    assert "image has shape" in capsys.readouterr().err


# ----------------------------------------------------------------------------- coco
def test_coco_folder_with_images_and_classes(dataset, tmp_path, capsys):
    images, masks, classes, arrays = dataset
    out = tmp_path / "ann.json"
    assert main(["coco", str(masks), "--images", str(images), "--out", str(out),
                 "--classes", str(classes), "-q"]) == 0
    assert "2 images" in capsys.readouterr().out
    coco = COCO(str(out))
    names = [coco.imgs[i]["file_name"] for i in sorted(coco.imgs)]
    assert names == ["b/p1.jpg", "p0.jpg"]
    for ann in coco.dataset["annotations"]:
        m = arrays[coco.imgs[ann["image_id"]]["file_name"][:-4]]
        binary = coco.annToMask(ann).astype(bool)
        (label,) = np.unique(m[binary])
        np.testing.assert_array_equal(binary, m == label)
        assert ann["category_id"] == 1 + label % 2
    assert [c["id"] for c in coco.dataset["categories"]] == [1, 2]


def test_coco_stack_and_read_coco_back(stack, tmp_path):
    data, labels, _ = stack
    out = tmp_path / "ann.json"
    assert main(["coco", str(data / "labels.tif"), "--out", str(out), "-q"]) == 0
    assert len(COCO(str(out)).imgs) == labels.shape[0]
    dec = tmp_path / "decoded"
    assert main(["read-coco", str(out), "--out", str(dec), "-q"]) == 0
    for z in range(labels.shape[0]):
        got = tifffile.imread(dec / "labels" / f"{z:06d}.tif")
        np.testing.assert_array_equal(got > 0, labels[z] > 0)
        # same partition: each object of the slice is one label of the decoded image
        for v in np.unique(labels[z][labels[z] > 0]):
            assert np.unique(got[labels[z] == v]).size == 1
        np.testing.assert_array_equal(tifffile.imread(dec / "classes" / f"{z:06d}.tif"),
                                      (labels[z] > 0).astype(np.uint8))


def test_read_coco_png_keeps_relative_folders(dataset, tmp_path):
    images, masks, _, arrays = dataset
    out = tmp_path / "ann.json"
    assert main(["coco", str(masks), "--images", str(images), "--out", str(out), "-q"]) == 0
    dec = tmp_path / "dec"
    assert main(["read-coco", str(out), "--out", str(dec), "--format", "png", "-q"]) == 0
    got = np.asarray(Image.open(dec / "labels" / "b" / "p1.png"))
    np.testing.assert_array_equal(got > 0, arrays["b/p1"] > 0)


def test_coco_refusals(dataset, tmp_path, capsys):
    images, masks, _, _ = dataset
    assert main(["coco", str(masks), "--out", str(tmp_path / "ann.txt")]) == 2
    assert "must end with .json" in capsys.readouterr().err
    assert main(["coco", str(masks), "--out", str(masks / "ann.json")]) == 2
    assert "inside the input" in capsys.readouterr().err
    assert main(["coco", str(tmp_path / "nope"), "--out", str(tmp_path / "a.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    (images / "p0.jpg").unlink()
    assert main(["coco", str(masks), "--images", str(images), "--out",
                 str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert "no image for mask p0.png" in err and "Traceback" not in err
    assert not (tmp_path / "a.json").exists()


def test_read_coco_refusals(tmp_path, capsys):
    foreign = tmp_path / "package.json"
    foreign.write_text(json.dumps({"name": "x", "version": "1"}))
    assert main(["read-coco", str(foreign), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "not a COCO instances file" in err and len(err.strip().splitlines()) == 1
    assert main(["read-coco", str(tmp_path / "missing.json"), "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()


def test_read_coco_refuses_the_folder_holding_the_json(stack, tmp_path, capsys):
    data, labels, _ = stack
    out = tmp_path / "ann.json"
    assert main(["coco", str(data / "labels.tif"), "--out", str(out), "-q"]) == 0
    assert main(["read-coco", str(out), "--out", str(tmp_path)]) == 2
    assert "folder holding the input" in capsys.readouterr().err
    assert not (tmp_path / "labels").exists()


def test_coco_walks_each_input_folder_once(dataset, tmp_path, walked):
    """The output check and export.coco's listings share one walk of each folder (its
    symlinked sub-folders followed), and give the same file as export.coco on paths."""
    from labelprep import export

    images, masks, classes, _ = dataset
    linked = {}
    for d in (images, masks, classes):  # each b/ moved outside, a symlink to it in place
        linked[d] = tmp_path / "elsewhere" / d.name
        linked[d].parent.mkdir(exist_ok=True)
        (d / "b").rename(linked[d])
        (d / "b").symlink_to(linked[d])
    out = tmp_path / "ann.json"
    assert main(["coco", str(masks), "--images", str(images), "--out", str(out),
                 "--classes", str(classes), "-q"]) == 0
    assert sorted(walked) == sorted([masks, images, classes])
    with open(out) as f:
        written = json.load(f)
    assert written == export.coco(masks, images, categories=classes)
    assert [i["file_name"] for i in written["images"]] == ["b/p1.jpg", "p0.jpg"]
    # the output check still covers the folders the symlinks lead to
    walked.clear()
    inside = linked[masks] / "ann.json"
    assert main(["coco", str(masks), "--images", str(images), "--out", str(inside),
                 "-q"]) == 2
    assert sorted(walked) == sorted([masks, images])
    assert not inside.exists()
