"""EditSession: every edit against plain NumPy on the array and a fresh LabelIndex.build,
undo / redo byte-exact, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from labelprep.edit import EditResult, EditSession
from labelprep.index import LabelIndex

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64]
FIELDS = ("labels", "counts", "offsets", "voxel_indices", "bboxes", "centroids")


def assert_index_equal(got: LabelIndex, want: LabelIndex) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert (got.shape, got.dtype, got.background) == (want.shape, want.dtype, want.background)


def check(session: EditSession) -> None:
    want = LabelIndex.build(session.labels, background=session.index.background)
    assert_index_equal(session.index, want)


def palette(dtype) -> list[int]:
    if dtype == np.bool_:
        return [0, 1]
    info = np.iinfo(dtype)
    values = {0, 1, 2, 3, 5, int(info.max), int(info.max) - 1, int(info.min)}
    return sorted(values)


def isin(arr, values):
    """np.isin without a float round trip (exact for uint64 labels)."""
    return np.isin(arr, np.array(list(values), dtype=arr.dtype))


def reference(arr, session, op, args, result):
    """The edit ``op`` done with plain NumPy on a copy of ``arr`` (the array before)."""
    out = arr.copy()
    fill = np.asarray(session.fill).astype(arr.dtype)
    present = LabelIndex.build(arr, background=session.index.background).labels.tolist()
    if op == "delete":
        out[isin(arr, args[0])] = fill
    elif op == "merge":
        ids, into = args
        out[isin(arr, ids)] = min(ids) if into is None else into
    elif op == "relabel":
        out[arr == arr.dtype.type(args[0])] = args[1]
    elif op == "remove_small":
        small = [v for v in present if np.count_nonzero(arr == arr.dtype.type(v)) < args[0]]
        small = [v for v in small if not (session.index.background is None and v == fill)]
        out[isin(arr, small)] = fill
    elif op == "keep":
        gone = [v for v in present if v not in args[0]]
        gone = [v for v in gone if not (session.index.background is None and v == fill)]
        out[isin(arr, gone)] = fill
    elif op == "split":
        label, conn = args
        structure = ndi.generate_binary_structure(arr.ndim, conn)
        pieces, n = ndi.label(arr == arr.dtype.type(label), structure)
        sizes = np.bincount(pieces.ravel())[1:]
        big = int(np.argmax(sizes)) + 1
        others = [p for p in range(1, n + 1) if p != big]
        assert result.added == tuple(sorted(result.added))
        assert not set(result.added) & set(present)
        assert session.index.background not in result.added
        for p, new in zip(others, result.added):
            out[pieces == p] = new
    return out


ops = st.sampled_from(["delete", "merge", "relabel", "split", "remove_small", "keep",
                       "undo", "redo"])


@st.composite
def stacks(draw):
    dtype = draw(st.sampled_from(INT_DTYPES + [np.bool_]))
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=ndim, max_size=ndim)))
    values = palette(dtype)
    weights = draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))
    choices = [v for v, w in zip(values, weights) for _ in range(w)] or [values[0]]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    arr = np.array(rng.choice(np.array(choices, dtype=object), size=shape).tolist(),
                   dtype=dtype).reshape(shape)
    background = draw(st.sampled_from([0, None, 1]))
    return arr, background


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(), st.data())
def test_edits_match_numpy_and_rebuild(stack, data):
    arr, background = stack
    session = EditSession(arr, background=background)
    check(session)
    states = [arr.copy()]  # the array after each applied edit
    pos = 0
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(ops)
        present = session.index.labels.tolist()
        before = arr.copy()
        if op in ("undo", "redo"):
            result = getattr(session, op)()
            if op == "undo":
                assert (result is None) == (pos == 0)
                pos -= result is not None
            else:
                assert (result is None) == (pos == len(states) - 1)
                pos += result is not None
            assert arr.tobytes() == states[pos].tobytes()
            check(session)
            continue
        if not present and op not in ("remove_small", "keep"):
            continue
        pick = st.sampled_from(present) if present else st.nothing()
        fill_obj = background is None
        if op == "delete":
            ids = data.draw(st.lists(pick, min_size=1, max_size=3))
            if fill_obj and session.fill in ids:
                with pytest.raises(ValueError, match="fill value"):
                    session.delete(ids)
                continue
            args = (ids,)
        elif op == "merge":
            ids = data.draw(st.lists(pick, min_size=1, max_size=3))
            into = data.draw(st.one_of(st.none(), st.sampled_from(palette(arr.dtype))))
            if into is not None and background is not None and into == background:
                with pytest.raises(ValueError, match="background"):
                    session.merge(ids, into=into)
                continue
            args = (ids, into)
        elif op == "relabel":
            args = (data.draw(pick), data.draw(st.sampled_from(palette(arr.dtype))))
        elif op == "split":
            args = (data.draw(pick), data.draw(st.integers(1, arr.ndim)))
            structure = ndi.generate_binary_structure(arr.ndim, args[1])
            n = ndi.label(arr == arr.dtype.type(args[0]), structure)[1]
            free = len(palette_range(arr.dtype)) - len(present) - (background is not None
                                                                  and background not in present)
            if n - 1 > free:
                with pytest.raises(ValueError, match="free labels"):
                    session.split(*args)
                assert arr.tobytes() == before.tobytes()
                continue
        elif op == "remove_small":
            args = (data.draw(st.integers(0, 6)),)
        else:  # keep
            args = (data.draw(st.lists(pick, max_size=3)) if present else [],)
        result = getattr(session, op)(*args)
        event(f"{op} {'changed' if result.voxels else 'no-op'}")
        assert isinstance(result, EditResult) and result.op == op
        want = reference(before, session, op, args, result)
        assert arr.tobytes() == want.tobytes(), (op, args)
        assert result.voxels == np.count_nonzero(before != want)
        check(session)
        if result.voxels or result.ids:
            del states[pos + 1:]
            states.append(arr.copy())
            pos += 1
    while session.undo() is not None:
        pos -= 1
        assert arr.tobytes() == states[pos].tobytes()
    assert pos == 0
    check(session)


def palette_range(dtype) -> range:
    if dtype == np.bool_:
        return range(2)
    info = np.iinfo(dtype)
    if np.dtype(dtype).itemsize <= 2:
        return range(int(info.min), int(info.max) + 1)
    return range(2**40)


def blobs(shape=(12, 30, 30), seed=3, dtype=np.int32):
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), 1.2)
    labels, _ = ndi.label(smooth > 0.15)
    return labels.astype(dtype)


def test_docstring_scenario():
    stack = np.array([[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 3, 0]], dtype=np.uint8)
    session = EditSession(stack)
    r = session.merge([1, 2])
    assert (r.removed, r.added, r.changed, r.voxels, r.ids) == ((2,), (), (1,), 2, (1, 2))
    r = session.split(3)
    assert (r.added, r.changed, r.voxels) == ((4,), (3,), 1)
    assert stack.tolist() == [[1, 1, 0, 1], [0, 0, 0, 1], [3, 0, 4, 0]]
    assert session.undo().op == "undo split"
    assert session.undo().added == (2,)
    assert stack.tolist() == [[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 3, 0]]
    assert session.undo() is None and session.can_redo and not session.can_undo
    assert session.redo().op == "merge"
    check(session)


@pytest.mark.parametrize("order", ["F", "strided", "big-endian"])
def test_non_contiguous_and_non_native_arrays(order):
    base = blobs()
    if order == "F":
        arr = np.asfortranarray(base)
    elif order == "strided":
        holder = np.zeros((12, 30, 60), dtype=base.dtype)
        holder[:, :, ::2] = base
        arr = holder[:, :, ::2]
    else:
        arr = base.astype(">i4")
    session = EditSession(arr)
    labels = session.index.labels
    big = int(labels[8 + np.argmax(session.index.counts[8:])])
    session.delete(labels[:3])
    session.merge(labels[3:6])
    session.relabel(labels[7], 10_000)
    session.split(big, connectivity=1)
    session.remove_small(5)
    check(session)
    ref = base.copy()
    for _ in range(5):
        session.undo()
    np.testing.assert_array_equal(arr, ref)
    check(session)
    if order == "strided":
        assert np.all(holder[:, :, 1::2] == 0)  # the voxels in between never written


def test_split_keeps_largest_and_returns_new_ids():
    arr = np.zeros((5, 9), dtype=np.uint16)
    arr[0, 0] = 4  # piece of 1 voxel, first in raster order
    arr[2:5, 2:5] = 4  # the largest piece
    arr[0, 8] = 4
    arr[4, 8] = 9
    session = EditSession(arr)
    r = session.split(4)
    assert r.added == (10, 11) and r.changed == (4,) and r.voxels == 2
    assert arr[0, 0] == 10 and arr[0, 8] == 11 and np.all(arr[2:5, 2:5] == 4)
    assert session.split(4).voxels == 0 and session.split(4).added == ()  # one piece: no-op
    diag = np.array([[1, 0], [0, 1]], dtype=np.int8)
    assert EditSession(diag.copy()).split(1, connectivity=2).added == ()
    assert EditSession(diag.copy()).split(1, connectivity=1).added == (2,)


def test_split_reuses_gaps_when_the_dtype_is_full():
    arr = np.array([[255, 0, 255, 0, 3]], dtype=np.uint8)
    session = EditSession(arr)
    assert session.split(255).added == (1,)
    assert arr.tolist() == [[255, 0, 1, 0, 3]]
    flag = np.array([[True, False, True]])
    with pytest.raises(ValueError, match="free labels"):
        EditSession(flag).split(1)


def test_large_ids_of_uint64_and_int64():
    arr = np.zeros((4, 4), dtype=np.uint64)
    arr[0] = 2**64 - 1
    arr[2] = 2**63 + 5
    session = EditSession(arr)
    session.relabel(2**64 - 1, 2**63)
    session.merge([2**63, 2**63 + 5], into=2**64 - 2)
    check(session)
    assert set(np.unique(arr).tolist()) == {0, 2**64 - 2}
    signed = np.array([[-128, 0, 127]], dtype=np.int8)
    session = EditSession(signed)
    session.merge([-128, 127])
    assert signed.tolist() == [[-128, 0, -128]]
    check(session)


def test_history_limit_and_redo_cleared():
    arr = blobs(dtype=np.uint16)
    session = EditSession(arr, history=2)
    labels = session.index.labels
    first = arr.copy()
    session.delete(labels[0])
    after_one = arr.copy()
    session.delete(labels[1])
    session.delete(labels[2])
    assert session.undo() and session.undo() and session.undo() is None
    np.testing.assert_array_equal(arr, after_one)  # the first delete fell out
    assert session.redo() is not None and session.can_redo
    session.delete(labels[5])
    assert not session.can_redo
    assert EditSession(first.copy(), history=0).delete(labels[0]).voxels > 0


def test_index_argument_is_not_modified():
    arr = blobs()
    idx = LabelIndex.build(arr)
    saved = {k: getattr(idx, k).copy() for k in FIELDS}
    session = EditSession(arr, idx)
    session.delete(idx.labels[:10])
    session.merge(idx.labels[10:14])
    for k in FIELDS:
        np.testing.assert_array_equal(getattr(idx, k), saved[k])
    check(session)


def test_errors():
    arr = (blobs() % 200).astype(np.uint8)
    session = EditSession(arr)
    with pytest.raises(KeyError, match="label 200"):
        session.delete([1, 200])
    with pytest.raises(KeyError, match="label 999"):
        session.merge([1, 999])  # out of the dtype's range: not in the stack
    with pytest.raises(KeyError):
        session.relabel(250, 3)
    with pytest.raises(ValueError, match="new=256 cannot be stored in a uint8"):
        session.relabel(1, 256)
    with pytest.raises(ValueError, match="new=-1"):
        session.relabel(1, -1)
    with pytest.raises(TypeError, match="new must be an integer"):
        session.relabel(1, 2.5)
    with pytest.raises(TypeError, match="integers"):
        session.delete(["a"])
    with pytest.raises(ValueError, match="background"):
        session.merge([1, 2], into=0)
    with pytest.raises(ValueError, match="connectivity"):
        session.split(1, connectivity=4)
    with pytest.raises(ValueError, match="connectivity"):
        session.split(1, connectivity=0)
    with pytest.raises(ValueError, match="min_voxels"):
        session.remove_small(-1)
    check(session)
    assert session.delete([]).voxels == 0 and not session.can_undo
    with pytest.raises(TypeError, match="NumPy array"):
        EditSession([[1, 0]])
    with pytest.raises(TypeError, match="integer or bool"):
        EditSession(np.ones((2, 2), dtype=np.float32))
    ro = arr.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        EditSession(ro)
    with pytest.raises(ValueError, match="stack"):
        EditSession(arr[:2].copy(), LabelIndex.build(arr))
    stale = arr.copy()
    idx = LabelIndex.build(stale)
    stale[stale == idx.labels[3]] = 0
    with pytest.raises(ValueError, match="does not describe"):
        EditSession(stale, idx)
    with pytest.raises(TypeError, match="LabelIndex"):
        EditSession(arr, index="objects.npz")


def test_background_none_deletes_into_zero():
    arr = np.array([[0, 1, 1], [2, 0, 3]], dtype=np.int16)
    session = EditSession(arr, background=None)
    r = session.delete([1, 3])
    assert r.removed == (1, 3) and r.changed == (0,) and arr.tolist() == [[0, 0, 0], [2, 0, 0]]
    with pytest.raises(ValueError, match="fill value"):
        session.delete(0)
    assert session.keep([2]).voxels == 0  # 0 stays
    check(session)
    session.undo()
    assert arr.tolist() == [[0, 1, 1], [2, 0, 3]]
    check(session)


def test_writer_receives_every_change_and_undo_can_skip_the_array():
    stack = np.array([[1, 1, 0, 2], [0, 0, 0, 2], [3, 0, 3, 0]], dtype=np.uint16)
    target = stack.copy()  # written only through the writer
    calls = []

    def writer(flat, values):
        calls.append((flat.copy(), values.copy()))
        target.reshape(-1)[flat] = values

    session = EditSession(target, writer=writer)
    session.merge([1, 2])
    assert len(calls) == 1 and calls[0][1].dtype == target.dtype
    expected = stack.copy()
    expected[stack == 2] = 1
    np.testing.assert_array_equal(target, expected)
    assert session.applied == 1
    target.reshape(-1)[calls[0][0]] = 2  # someone else (napari) restores the array
    session.undo(write=False)
    assert len(calls) == 1  # nothing written by the undo
    np.testing.assert_array_equal(target, stack)
    fresh = LabelIndex.build(target)
    np.testing.assert_array_equal(session.index.voxel_indices, fresh.voxel_indices)
    np.testing.assert_array_equal(session.index.labels, fresh.labels)
    session.redo()  # write=True: through the writer again
    assert len(calls) == 2
    np.testing.assert_array_equal(target, expected)
