"""The "RLE masks" dock's Qt-free model: layer, encoding, statistics, options, checks."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from labelprep import rle
from labelprep._napari import rle_model
from labelprep._napari.rle_model import (
    STATS,
    Refused,
    RLEDockModel,
    decode_encoding,
    decode_file,
    encode_array,
    fmt_bytes,
    layer_problem,
    round_trip,
)


def fake_layer(data, name="mask", **extra):
    ndim = np.ndim(data[0] if extra.get("multiscale") else data)
    return SimpleNamespace(name=name, data=data, ndim=ndim, **extra)


@pytest.fixture
def mask():
    return np.array([[0, 1, 1, 0], [2, 2, 0, 0], [0, 0, 3, 3]], np.uint16)


@pytest.fixture
def layer(mask):
    return fake_layer(mask, scale=(2.0, 1.0), translate=(5.0, 0.0))


def record(signal):
    seen = []
    signal.connect(lambda *args: seen.append(args[0] if len(args) == 1 else args))
    return seen


def test_the_model_imports_neither_qt_nor_napari():
    import subprocess

    code = ("import sys, labelprep._napari.rle_model; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'napari')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_encode_array_measures_the_encoding(mask, layer):
    enc = encode_array(mask, layer, "mask")
    expected = rle.encode(mask)
    assert enc.rle == expected and enc.layer is layer and enc.layer_name == "mask"
    assert enc.shape == (3, 4) and enc.dtype == "uint16" and enc.raw_bytes == mask.nbytes
    assert enc.runs == len(expected["counts"])
    assert enc.json_bytes == len(json.dumps(expected, separators=(",", ":")))
    assert enc.ratio == pytest.approx(mask.nbytes / enc.compact_bytes)
    assert enc.summary() == "Encoded 'mask' (3 x 4, uint16)."


def test_encode_array_looks_up_rle_encode_at_call_time(mask, layer, monkeypatch):
    calls = []
    real = rle.encode

    def spy(array, **kw):
        calls.append(array.shape)
        return real(array, **kw)

    monkeypatch.setattr(rle, "encode", spy)
    encode_array(mask, layer, "mask")
    assert calls == [(2, 2), (3, 4)]  # the numba warm-up, then the layer


def test_stats_follow_the_layer_chosen(mask, layer):
    model = RLEDockModel()
    assert model.stats() == dict.fromkeys(STATS, "-")
    model.set_layer(layer)
    enc = encode_array(mask, layer, "mask")
    model.set_encoding(enc)
    texts = model.stats()
    assert list(texts) == list(STATS)
    assert texts["runs"] == f"{enc.runs:,}" and texts["time"].endswith(" ms")
    assert texts["json"] == f"{enc.json_bytes} B"
    assert f"{enc.ratio:.1f}x (compact) vs {mask.nbytes} B raw" in texts["ratio"]
    other = fake_layer(np.zeros((2, 2), np.uint8), "other")
    model.set_layer(other)
    assert model.shown is None and model.stats()["runs"] == "-"
    assert model.encoding_of(layer) is enc and model.last is enc
    model.set_layer(layer)
    assert model.shown is enc


def test_signals_fire_on_changes_only(layer):
    model = RLEDockModel()
    layers, compact, paths = (record(model.layer_changed), record(model.compact_changed),
                              record(model.path_changed))
    assert model.set_layer(layer) is True and model.set_layer(layer) is False
    model.set_compact(1)
    model.set_compact(True)
    model.set_path("a.rle.json")
    model.set_path("a.rle.json")
    assert layers == [layer] and compact == [True] and paths == ["a.rle.json"]
    assert model.compact is True


def test_enabled_controls(mask, layer):
    model = RLEDockModel()
    assert model.enabled(busy=False) == {
        "encode": False, "save": False, "decode_last": False, "decode_file": True,
        "browse": True, "check": False, "layer": True}
    model.set_layer(layer)
    model.set_encoding(encode_array(mask, layer, "mask"))
    assert all(model.enabled(busy=False).values())
    assert not any(model.enabled(busy=True).values())


def test_layer_problems_have_clear_messages(mask):
    assert layer_problem(None) == "No layer to encode: add or open a Labels layer."
    floats = fake_layer(mask.astype(np.float32), "f")
    assert "Layer 'f' holds float32 data, not integer labels" in layer_problem(floats)
    rgb = fake_layer(np.zeros((4, 4, 3), np.uint8), "photo", rgb=True)
    assert layer_problem(rgb) == "Layer 'photo' is an RGB image, not a label mask."
    multiscale = fake_layer([mask, mask[::2, ::2]], "pyr", multiscale=True)
    assert layer_problem(multiscale) is None  # level 0 is integer
    model = RLEDockModel()
    with pytest.raises(Refused, match="No layer to encode"):
        model.encodable()
    model.set_layer(floats)
    with pytest.raises(Refused, match="not integer labels"):
        model.encodable()
    assert model.encodable(multiscale) is multiscale


def test_save_and_decode_need_an_encoding_and_a_path(mask, layer):
    model = RLEDockModel()
    with pytest.raises(Refused, match="Nothing to save: encode a layer first."):
        model.save_path("x")
    with pytest.raises(Refused, match="Nothing to decode: encode a layer first."):
        model.decode_last_meta()
    with pytest.raises(Refused, match=r"Choose an \.rle\.json file to decode first\."):
        model.decode_path()
    model.set_path("  ")
    with pytest.raises(Refused, match="Choose an"):
        model.decode_path()
    assert model.save_name() == ""
    model.set_encoding(encode_array(mask, layer, "mask"))
    assert model.save_path("out") == "out.rle.json"
    assert model.save_path("OUT.RLE.JSON") == "OUT.RLE.JSON"
    assert model.save_name() == "mask.rle.json"


def test_decode_path_comes_from_the_field_or_becomes_it():
    model = RLEDockModel()
    paths = record(model.path_changed)
    model.set_path("  a.rle.json ")
    assert model.decode_path() == "a.rle.json" and model.path == "a.rle.json"
    assert model.decode_path("b.rle.json") == "b.rle.json" and model.path == "b.rle.json"
    assert paths == ["  a.rle.json ", "a.rle.json", "b.rle.json"]


def test_decode_last_meta_keeps_the_source_geometry(mask, layer):
    model = RLEDockModel()
    model.set_encoding(encode_array(mask, layer, "mask"))
    enc, meta = model.decode_last_meta()
    assert enc is model.last
    assert meta == {"name": "mask decoded", "scale": (2.0, 1.0), "translate": (5.0, 0.0)}
    np.testing.assert_array_equal(decode_encoding(enc), mask)
    model.set_encoding(encode_array(mask, None, "gone"))  # no layer: no geometry
    assert model.decode_last_meta()[1] == {"name": "gone decoded"}


def test_decode_file_reads_a_saved_encoding(tmp_path, mask):
    path = rle.save(tmp_path / "cells.rle.json", rle.encode(mask.astype(bool)))
    data, meta = decode_file(path)
    assert data.dtype == np.uint8  # bool masks become 0/1 labels
    np.testing.assert_array_equal(data, mask.astype(bool))
    assert meta["name"] == "cells" and meta["metadata"] == {"rle_path": str(path)}
    (tmp_path / "bad.rle.json").write_text('{"size": [3, 3], "values": [1], "counts": [4]}')
    with pytest.raises(ValueError, match="bad.rle.json"):
        decode_file(tmp_path / "bad.rle.json")


def test_round_trip_encodes_when_needed_and_reports_progress(mask, layer):
    ticks = []
    enc, text = round_trip(mask, layer, "mask", None, lambda d, t: ticks.append((d, t)))
    assert enc.rle == rle.encode(mask) and text == "identical (12 voxels, dtype uint16)"
    assert ticks and all(d <= t for d, t in ticks) and ticks[-1][0] == ticks[-1][1]
    painted = mask.copy()
    painted[1, 3] = 9
    again, text = round_trip(painted, layer, "mask", enc)
    assert again is enc
    assert text == "differs at (1, 3): layer 9, decoded 0 (1 voxel differ)"


def test_set_check_adopts_the_encoding_and_clears_on_another_layer(mask, layer):
    model = RLEDockModel()
    model.set_layer(layer)
    checks, encodings = record(model.check_changed), record(model.encoding_changed)
    enc, text = round_trip(mask, layer, "mask", None)
    assert model.set_check(enc, text) == "Round trip: identical."
    assert model.last is enc and encodings == [enc]
    assert model.check_ok and model.check_message == "mask: identical (12 voxels, dtype uint16)"
    painted = mask.copy()
    painted[0, 0] = 4
    assert model.set_check(*round_trip(painted, layer, "mask", enc)) == (
        "Round trip: the layer differs.")
    assert not model.check_ok and encodings == [enc]  # the same encoding: not re-adopted
    assert model.check_result.startswith("differs at (0, 0)")
    model.set_layer(fake_layer(mask, "other"))
    assert model.check_message == "" and checks[-1] == ""
    assert model.check_result.startswith("differs")  # the last check's text is kept
    assert len(checks) == 3


def test_fmt_bytes():
    assert [fmt_bytes(n) for n in (0, 1023, 1024, 5 * 1024**2, 3 * 1024**3)] == [
        "0 B", "1023 B", "1.0 KB", "5.0 MB", "3.0 GB"]


def test_widget_module_keeps_its_names():
    from labelprep._napari import rle_widget

    assert rle_widget.Encoding is rle_model.Encoding
    assert rle_widget.layer_problem is layer_problem
    assert rle_widget.first_difference is rle_model.first_difference
