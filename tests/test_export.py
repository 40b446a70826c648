"""labelprep.export: COCO round trips through pycocotools, the reader's refusals, crops
equal to NumPy slicing (2D, 3D, pad, fixed size with zero padding, every format)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage as ndi

from labelprep import LabelIndex, export

mask_utils = pytest.importorskip("pycocotools.mask")
COCO = pytest.importorskip("pycocotools.coco").COCO


def blobs(shape, seed=0, sigma=4.0, quantile=0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    labels, _ = ndi.label(noise > np.quantile(noise, quantile))
    return labels.astype(np.int32)


def edge_cases() -> np.ndarray:
    """Objects on the first and last pixel, full-height columns (runs across columns),
    single pixels, and a gap between labels."""
    a = np.zeros((7, 9), np.uint16)
    a[0, 0] = 3
    a[-1, -1] = 4
    a[:, 2:4] = 7  # full height: one run over two columns
    a[6, 4] = 7
    a[0, 5] = 7  # continues the run of column 4 into column 5
    a[2:5, 6:8] = 65535
    a[3, 7] = 0
    return a


def check_against_pycocotools(data: dict, masks: list[np.ndarray], path=None) -> None:
    """Every annotation is exactly its object; RLE, bbox, area as pycocotools has them."""
    if path is not None:
        coco = COCO(str(path))
        assert len(coco.getAnnIds()) == len(data["annotations"])
    images = {img["id"]: k for k, img in enumerate(data["images"])}
    expected = []
    for k, m in enumerate(masks):
        for label in np.unique(m[m != 0]).tolist():
            expected.append((k, label))
    assert len(data["annotations"]) == len(expected)
    for ann, (k, label) in zip(data["annotations"], expected):
        assert images[ann["image_id"]] == k
        binary = masks[k] == label
        ref = mask_utils.encode(np.asfortranarray(binary).view(np.uint8))
        seg = ann["segmentation"]
        assert seg["size"] == list(ref["size"])
        assert seg["counts"] == ref["counts"].decode("ascii")
        np.testing.assert_array_equal(mask_utils.decode(seg).view(bool), binary)
        assert ann["area"] == int(mask_utils.area(ref))
        assert ann["bbox"] == mask_utils.toBbox(ref).tolist()
        assert ann["iscrowd"] == 0
        if path is not None:
            np.testing.assert_array_equal(coco.annToMask(coco.anns[ann["id"]]), binary)


# ============================================================================ coco writer
def test_coco_round_trip_through_pycocotools(tmp_path):
    masks = [blobs((120, 170), seed=s) for s in range(3)] + [edge_cases()]
    masks[1][:, :2] = 1000  # an object over the full height of two columns
    out = tmp_path / "ann.json"
    data = export.coco(masks, out=out)
    check_against_pycocotools(data, masks, out)
    assert json.loads(out.read_text()) == data
    assert [img["id"] for img in data["images"]] == [1, 2, 3, 4]
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
    assert data["categories"] == [{"id": 1, "name": "object", "supercategory": "object"}]
    assert [(img["height"], img["width"]) for img in data["images"]] == [
        m.shape for m in masks]


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "uint32", "int64", "uint64"])
def test_coco_every_label_dtype(dtype):
    m = blobs((40, 50), seed=2)
    if dtype == "bool":
        m = m > 0
    elif dtype == "int16":
        m = np.where(m > 0, m - 20, 0).astype(np.int16)  # negative labels too
    else:
        m = m.astype(dtype)
    check_against_pycocotools(export.coco(m), [m])


def test_coco_random_labels_worst_case():
    m = np.random.default_rng(1).integers(0, 30, size=(64, 48)).astype(np.uint8)
    check_against_pycocotools(export.coco([m]), [m])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                  elements=st.integers(0, 4)))
def test_coco_strings_equal_pycocotools_property(m):
    check_against_pycocotools(export.coco(m), [m])


def test_coco_3d_stack_is_one_image_per_slice_and_empty_images_count():
    stack = blobs((4, 30, 40), seed=3)
    stack[2] = 0
    data = export.coco(stack, images=[f"z{z}.png" for z in range(4)])
    check_against_pycocotools(data, list(stack))
    assert [img["file_name"] for img in data["images"]] == ["z0.png", "z1.png", "z2.png",
                                                            "z3.png"]
    assert not [a for a in data["annotations"] if a["image_id"] == 3]
    assert export.coco(stack)["images"][1]["file_name"] == "000001"


def test_coco_stable_across_runs(tmp_path):
    masks = [blobs((50, 60), seed=s) for s in range(2)]
    export.coco(masks, out=tmp_path / "a.json")
    export.coco(masks, out=tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def _write_dataset(tmp_path, n=3):
    images, masks = tmp_path / "images", tmp_path / "masks"
    arrays = {}
    for k in range(n):
        sub = "a/" if k % 2 else ""
        (images / sub).mkdir(parents=True, exist_ok=True)
        (masks / sub).mkdir(parents=True, exist_ok=True)
        m = blobs((60, 80), seed=10 + k).astype(np.uint16)
        Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(images / f"{sub}img{k}.jpg")
        Image.fromarray(m).save(masks / f"{sub}img{k}.png")
        arrays[f"{sub}img{k}"] = m
    return images, masks, arrays


def test_coco_from_folders_pairs_images_by_folder_and_stem(tmp_path):
    images, masks, arrays = _write_dataset(tmp_path)
    out = tmp_path / "ann.json"
    data = export.coco(masks, images, out=out)
    names = [img["file_name"] for img in data["images"]]
    assert names == ["a/img1.jpg", "img0.jpg", "img2.jpg"]  # io.list_images' order
    check_against_pycocotools(
        data, [arrays[n.rsplit(".", 1)[0]] for n in names], out)
    # without images, file names are the masks'
    assert [i["file_name"] for i in export.coco(masks)["images"]] == [
        "a/img1.png", "img0.png", "img2.png"]


def test_coco_folder_errors(tmp_path):
    images, masks, _ = _write_dataset(tmp_path)
    (images / "img0.jpg").unlink()
    with pytest.raises(ValueError, match="no image for mask img0.png"):
        export.coco(masks, images)
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(images / "img2.png")
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(images / "img0.png")
    with pytest.raises(ValueError, match="matches several images"):
        export.coco(masks, images)
    with pytest.raises(FileNotFoundError, match="no such file"):
        export.coco(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no mask images"):
        export.coco(empty)
    with pytest.raises(ValueError, match="2D label image"):
        export.coco([np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="image names for"):
        export.coco([np.zeros((4, 4), np.uint8)], images=["a", "b"])


def test_coco_categories_from_a_dict():
    m = np.array([[1, 1, 0, 2], [0, 3, 0, 2]], np.uint8)
    data = export.coco(m, categories={1: "cell", 2: "nucleus", 3: "cell"})
    assert data["categories"] == [{"id": 1, "name": "cell", "supercategory": "object"},
                                  {"id": 2, "name": "nucleus", "supercategory": "object"}]
    assert [a["category_id"] for a in data["annotations"]] == [1, 2, 1]
    with pytest.raises(ValueError, match="labels not in categories: 3"):
        export.coco(m, categories={1: "cell", 2: "nucleus"})


def test_coco_categories_from_class_masks(tmp_path):
    m = np.array([[1, 1, 0, 2], [0, 3, 0, 2], [4, 4, 4, 0]], np.uint8)
    cls = np.array([[5, 5, 0, 2], [0, 9, 0, 2], [7, 7, 0, 0]], np.uint8)  # 4: majority 7
    data = export.coco([m], categories=[cls])
    assert [a["category_id"] for a in data["annotations"]] == [5, 2, 9, 7]
    assert [c["id"] for c in data["categories"]] == [2, 5, 7, 9]
    assert data["categories"][0]["name"] == "2"
    bad = cls.copy()
    bad[1, 1] = 0
    with pytest.raises(ValueError, match="object 3 has class 0"):
        export.coco([m], categories=[bad])
    with pytest.raises(ValueError, match="class mask has shape"):
        export.coco([m], categories=[cls[:2]])
    # a folder of class masks, paired with a folder of masks
    images, masks, arrays = _write_dataset(tmp_path)
    classes = tmp_path / "classes"
    for key, a in arrays.items():
        (classes / key).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(classes / f"{key}.tif", np.where(a > 0, a % 3 + 1, 0).astype(np.uint8))
    data = export.coco(masks, images, categories=classes)
    order = [img["file_name"].rsplit(".", 1)[0] for img in data["images"]]
    expected = [v % 3 + 1 for key in order for v in np.unique(arrays[key][arrays[key] > 0])]
    assert [a["category_id"] for a in data["annotations"]] == expected


def test_coco_polygons_load_and_approximate_the_masks(tmp_path):
    m = blobs((80, 90), seed=4)
    m[10:20, 10:20] = 999
    m[14:16, 14:16] = 0  # a hole: filled by the polygon
    out = tmp_path / "poly.json"
    data = export.coco([m], polygons=True, out=out)
    coco = COCO(str(out))
    labels = np.unique(m[m != 0])
    assert len(data["annotations"]) == labels.size
    for ann, label in zip(data["annotations"], labels.tolist()):
        assert isinstance(ann["segmentation"], list)
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
        got = coco.annToMask(ann).astype(bool)
        want = m == label
        if label == 999:
            want = ndi.binary_fill_holes(want)
        iou = (got & want).sum() / (got | want).sum()
        assert iou > 0.6 if want.sum() < 10 else iou > 0.9, (label, iou)
        ref = mask_utils.encode(np.asfortranarray(m == label).view(np.uint8))
        assert ann["area"] == int(mask_utils.area(ref))  # the exact mask's
        assert ann["bbox"] == mask_utils.toBbox(ref).tolist()


# ============================================================================ coco reader
def test_read_coco_round_trip(tmp_path):
    masks = [blobs((50, 70), seed=s) for s in range(2)] + [edge_cases()]
    out = tmp_path / "ann.json"
    export.coco(masks, out=out, categories=[np.where(m > 0, 1 + (m % 2), 0) for m in masks])
    back = export.read_coco(out)
    assert [info["id"] for info, _, _ in back] == [1, 2, 3]
    for (info, labels, classes), m in zip(back, masks):
        assert (info["height"], info["width"]) == m.shape
        assert labels.dtype == np.uint16 and labels.flags.c_contiguous
        ids = np.unique(m[m != 0])
        relabelled = np.zeros(m.shape, np.uint16)
        for k, v in enumerate(ids.tolist(), start=1):
            relabelled[m == v] = k
        np.testing.assert_array_equal(labels, relabelled)
        np.testing.assert_array_equal(classes, np.where(m > 0, 1 + (m % 2), 0))
    # the parsed dict works too
    np.testing.assert_array_equal(
        export.read_coco(json.loads(out.read_text()))[0][1], back[0][1])


def test_read_coco_uncompressed_rle_polygons_and_overlaps():
    h, w = 20, 30
    a = np.zeros((h, w), np.uint8)
    a[2:8, 3:9] = 1
    flat = a.ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.r_[0, change, flat.size]).tolist()
    poly = [[12.0, 4.0, 25.0, 4.0, 25.0, 15.0, 12.0, 15.0]]
    overlap = mask_utils.encode(np.asfortranarray(np.pad(np.ones((5, 5), np.uint8),
                                                          ((5, 10), (5, 20)))))
    data = {"images": [{"id": 7, "file_name": "x.png", "height": h, "width": w}],
            "annotations": [
                {"id": 1, "image_id": 7, "category_id": 2, "iscrowd": 1,
                 "segmentation": {"size": [h, w], "counts": counts}},
                {"id": 2, "image_id": 7, "category_id": 3, "segmentation": poly},
                {"id": 3, "image_id": 7, "category_id": 4,
                 "segmentation": {"size": [h, w], "counts": overlap["counts"]}},
            ], "categories": []}
    (info, labels, classes), = export.read_coco(data)
    want_poly = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, h, w)))
    expected = np.zeros((h, w), np.uint16)
    expected[a.astype(bool)] = 1
    expected[want_poly.astype(bool)] = 2
    expected[5:10, 5:10] = 3  # the later annotation wins where they overlap
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(classes, np.choose(expected, [0, 2, 3, 4]))
    assert classes.dtype == np.uint8


def _coco_dict(**changes):
    data = {"images": [{"id": 1, "file_name": "a.png", "height": 2, "width": 2}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "segmentation": {"size": [2, 2], "counts": "022O"}}],
            "categories": [{"id": 1, "name": "x"}]}
    data.update(changes)
    return data


@pytest.mark.parametrize(("content", "message"), [
    ([1, 2, 3], "top level is a list"),
    ({"name": "package", "version": "1.0"}, "missing key\\(s\\) 'images', 'annotations'"),
    ({"size": [2, 2], "values": [0, 1], "counts": [3, 1]}, "missing key"),  # our RLE
    (_coco_dict(images={"id": 1}), "'images' must be a list"),
    (_coco_dict(images=[{"id": 1, "file_name": "a.png"}]), "lacks 'height', 'width'"),
    (_coco_dict(images=[{"id": 1, "height": 0, "width": 2}]), "bad size"),
    (_coco_dict(images=[{"id": 1, "height": 2, "width": 2}] * 2), "used twice"),
    (_coco_dict(images=[{"id": [1], "height": 2, "width": 2}]), "bad id \\[1\\]"),
    (_coco_dict(annotations=[{"id": 5, "image_id": [1], "category_id": 1,
                              "segmentation": []}]), "image id \\[1\\]"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "segmentation": []}]),
     "\\(id 5\\) lacks 'category_id'"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 9, "category_id": 1,
                              "segmentation": []}]), "image id 9"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "category_id": 1,
                              "segmentation": {"size": [3, 2], "counts": "06"}}]),
     "RLE size \\[3, 2\\] does not match"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "category_id": 1,
                              "segmentation": {"size": [2, 2], "counts": [1, 1]}}]),
     "sum to 2"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "category_id": 1,
                              "segmentation": {"size": [2, 2], "counts": "0~"}}]),
     "outside the COCO alphabet"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "category_id": 1,
                              "segmentation": [[1, 2, 3]]}]), "at least 3 x, y pairs"),
    (_coco_dict(annotations=[{"id": 5, "image_id": 1, "category_id": 1,
                              "segmentation": 3}]), "segmentation must be"),
])
def test_read_coco_refuses_foreign_or_broken_json(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        export.read_coco(path)
    assert export.is_coco_file(path) == (isinstance(content, dict) and isinstance(
        content.get("images"), list) and isinstance(content.get("annotations"), list))


def test_read_coco_not_json_and_missing(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(ValueError, match="not a valid JSON file"):
        export.read_coco(path)
    with pytest.raises(FileNotFoundError):
        export.read_coco(tmp_path / "missing.json")


def test_is_coco_file_never_raises(tmp_path):
    good = tmp_path / "ann.json"
    export.coco(edge_cases(), out=good)
    assert export.is_coco_file(good)
    assert export.is_coco_file(str(good))
    (tmp_path / "ann.txt").write_bytes(good.read_bytes())
    (tmp_path / "broken.json").write_text("{\"images\": [")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "dir.json").mkdir()
    for p in ("ann.txt", "broken.json", "list.json", "dir.json", "missing.json"):
        assert export.is_coco_file(tmp_path / p) is False
    assert export.is_coco_file(None) is False  # type: ignore[arg-type]
    assert export.is_coco_file("\0") is False


def test_is_coco_file_sniffs_large_files(tmp_path, monkeypatch):
    from labelprep.export import _coco_read

    monkeypatch.setattr(_coco_read, "_PARSE_LIMIT", 10)
    good = tmp_path / "ann.json"
    export.coco(edge_cases(), out=good)
    assert export.is_coco_file(good)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"images": [1, 2, 3], "count": 3}))
    assert not export.is_coco_file(other)


# ============================================================================ crops
def reference_crop(a: np.ndarray, lo, hi) -> np.ndarray:
    """``a[lo:hi]`` on the first len(lo) axes, with zeros outside (NumPy padding)."""
    nd = len(lo)
    margin = max(0, -min(lo), *(h - s for h, s in zip(hi, a.shape)))
    padded = np.pad(a, [(margin, margin)] * nd + [(0, 0)] * (a.ndim - nd))
    return padded[tuple(slice(x + margin, y + margin) for x, y in zip(lo, hi))]


def read_file(path):
    if path.suffix == ".tif":
        return tifffile.imread(path)
    if path.suffix == ".npz":
        with np.load(path) as z:
            (key,) = z.files
            return z[key]
    return np.asarray(Image.open(path))


def read_manifest(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_crops(out, labels, image, pad=0, size=None, mask="binary", objects=None):
    rows = read_manifest(out / "crops.csv")
    idx = LabelIndex.build(labels)
    wanted = idx.labels.tolist() if objects is None else sorted(objects)
    assert [int(r["label"]) for r in rows] == wanted
    axes = idx.axis_names
    nd = labels.ndim
    pads = (pad,) * nd if isinstance(pad, int) else tuple(pad)
    for r in rows:
        label = int(r["label"])
        box = idx.bbox(label)
        assert [(int(r[f"{a}_start"]), int(r[f"{a}_stop"])) for a in axes] == [
            (s.start, s.stop) for s in box]
        assert int(r["voxels"]) == idx.size(label)
        assert [int(r[f"pad_{a}"]) for a in axes] == list(pads)
        if size is None:
            lo = [max(0, s.start - p) for s, p in zip(box, pads)]
            hi = [min(n, s.stop + p) for s, n, p in zip(box, labels.shape, pads)]
        else:
            sizes = (size,) * nd if isinstance(size, int) else tuple(size)
            lo = [(s.start + s.stop - z) // 2 for s, z in zip(box, sizes)]
            hi = [x + z for x, z in zip(lo, sizes)]
        assert [(int(r[f"crop_{a}_start"]), int(r[f"crop_{a}_stop"])) for a in axes] == list(
            zip(lo, hi))
        got_mask = read_file(out / r["mask_file"])
        want = reference_crop(labels, lo, hi)
        if mask == "binary":
            want = (want == label).astype(np.uint8)
        np.testing.assert_array_equal(got_mask, want)
        assert got_mask.dtype == want.dtype or r["mask_file"].endswith(".png")
        if image is None:
            assert r["image_file"] == ""
        else:
            got = read_file(out / r["image_file"])
            np.testing.assert_array_equal(got, reference_crop(image, lo, hi))
    return rows


@pytest.mark.parametrize("fmt", ["tif", "npz", "png"])
@pytest.mark.parametrize("pad", [0, 3, (1, 5)])
def test_crops_2d_equal_numpy_slicing(tmp_path, fmt, pad):
    labels = blobs((60, 80), seed=5)
    image = (np.arange(60 * 80).reshape(60, 80) % 251).astype(np.uint8)
    out = tmp_path / "crops"
    manifest = export.crops(labels, image=image, out=out, pad=pad, format=fmt)
    assert manifest == out / "crops.csv"
    rows = check_crops(out, labels, image, pad=pad)
    width = len(str(labels.max()))  # names zero-padded to the widest label
    assert rows[0]["image_file"] == f"images/{int(rows[0]['label']):0{width}d}.{fmt}"
    assert rows[-1]["mask_file"] == f"masks/{labels.max()}.{fmt}"


@pytest.mark.parametrize("fmt", ["tif", "npz"])
def test_crops_3d_with_pad_and_labels_masks(tmp_path, fmt):
    labels = blobs((12, 30, 40), seed=6, sigma=2.0)
    image = np.random.default_rng(0).random(labels.shape).astype(np.float32)
    idx = LabelIndex.build(labels)
    export.crops(labels, idx, image, out=tmp_path / "c", pad=(1, 2, 2), format=fmt,
                 mask="labels")
    check_crops(tmp_path / "c", labels, image, pad=(1, 2, 2), mask="labels")


@pytest.mark.parametrize("fmt", ["tif", "npz", "png"])
def test_crops_fixed_size_zero_padded_at_the_edges(tmp_path, fmt):
    labels = blobs((40, 50), seed=7)
    labels[0:3, 0:2] = 500  # at the corner: the crop reaches outside the stack
    labels[-1, -4:] = 501
    image = np.random.default_rng(1).integers(1, 255, (40, 50, 3), dtype=np.uint8)  # RGB
    export.crops(labels, image=image, out=tmp_path / "c", size=9, format=fmt)
    rows = check_crops(tmp_path / "c", labels, image, size=9)
    corner = next(r for r in rows if r["label"] == "500")
    assert (int(corner["crop_y_start"]), int(corner["crop_x_start"])) == (-3, -4)


def test_crops_fixed_size_3d_and_objects_larger_than_the_size(tmp_path):
    labels = blobs((10, 30, 30), seed=8, sigma=3.0, quantile=0.5)
    image = np.random.default_rng(2).integers(0, 60000, labels.shape).astype(np.uint16)
    export.crops(labels, image=image, out=tmp_path / "c", size=(3, 8, 6))
    check_crops(tmp_path / "c", labels, image, size=(3, 8, 6))


def test_crops_subset_no_image_and_existing_files_kept(tmp_path):
    labels = blobs((30, 30), seed=9)
    out = tmp_path / "c"
    (out / "masks").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    (out / "masks" / "old.tif").write_bytes(b"keep")
    chosen = np.unique(labels[labels > 0])[[2, 0]].tolist()
    progress = []
    export.crops(labels, out=out, objects=chosen, progress=lambda d, t: progress.append((d, t)))
    check_crops(out, labels, None, objects=chosen)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "masks" / "old.tif").read_bytes() == b"keep"
    assert not (out / "images").exists()
    assert progress[-1] == (2, 2)
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(
        ["old.tif"] + [f"{v}.tif" for v in chosen])
    assert not list(out.rglob(".*"))  # no temporary files left


def test_crops_mask_excludes_other_objects_in_the_box(tmp_path):
    labels = np.zeros((6, 6), np.uint8)
    labels[1:5, 1:5] = 1
    labels[2:4, 2:4] = 2  # inside 1's box
    export.crops(labels, out=tmp_path / "b")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b/masks/1.tif"),
                                  (labels[1:5, 1:5] == 1).astype(np.uint8))
    export.crops(labels, out=tmp_path / "l", mask="labels", format="png")
    np.testing.assert_array_equal(read_file(tmp_path / "l/masks/1.png"), labels[1:5, 1:5])


def test_crops_bad_arguments(tmp_path):
    labels = blobs((20, 20), seed=1)
    out = tmp_path / "c"
    with pytest.raises(ValueError, match="format='png' is for 2D"):
        export.crops(labels[None], out=out, format="png")
    with pytest.raises(ValueError, match="pad or size"):
        export.crops(labels, out=out, pad=1, size=5)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        export.crops(labels, out=out, pad=-1)
    with pytest.raises(ValueError, match="size must be an int or 2 ints"):
        export.crops(labels, out=out, size=(3, 4, 5))
    with pytest.raises(ValueError, match="objects not in labels: 9999"):
        export.crops(labels, out=out, objects=[1, 9999])
    with pytest.raises(ValueError, match="image has shape"):
        export.crops(labels, image=np.zeros((20, 21)), out=out)
    with pytest.raises(ValueError, match="index is of a stack of shape"):
        export.crops(labels, LabelIndex.build(labels[:10]), out=out)
    with pytest.raises(ValueError, match="format must be one of"):
        export.crops(labels, out=out, format="jpg")
    with pytest.raises(ValueError, match="mask must be one of"):
        export.crops(labels, out=out, mask="soft")
    with pytest.raises(ValueError, match="PNG|png"):
        export.crops(labels, image=np.zeros((20, 20), np.float32), out=out, format="png")
    with pytest.raises(ValueError, match="labels 0..65535"):
        export.crops(labels * 70000, out=out, format="png", mask="labels")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export.crops(labels, out=tmp_path / "file")
    assert not out.exists()  # every refusal came before anything was written


def test_crops_of_an_empty_stack_write_an_empty_manifest(tmp_path):
    export.crops(np.zeros((5, 5), np.uint8), out=tmp_path / "c")
    assert read_manifest(tmp_path / "c" / "crops.csv") == []


def test_crop_names_are_zero_padded_to_the_widest_label(tmp_path):
    labels = np.zeros((4, 4), np.uint16)
    labels[0, 0], labels[3, 3] = 7, 120
    export.crops(labels, out=tmp_path / "c", format="npz")
    assert sorted(p.name for p in (tmp_path / "c" / "masks").iterdir()) == ["007.npz",
                                                                          "120.npz"]
