import time

import numpy as np
import pytest

from labelprep import samples


def test_cells_3d_is_deterministic_and_realistic():
    image_a, labels_a = samples.cells_3d()
    image_b, labels_b = samples.cells_3d()
    np.testing.assert_array_equal(labels_a, labels_b)
    np.testing.assert_array_equal(image_a, image_b)
    assert labels_a.shape == image_a.shape == (64, 256, 256)
    ids = np.unique(labels_a)
    assert ids[0] == 0
    # "several hundred objects", ids sequential 1..K
    assert 200 <= ids.size - 1 <= 1000
    np.testing.assert_array_equal(ids[1:], np.arange(1, ids.size))
    # cells are brighter than background in the grey-level image
    assert image_a[labels_a > 0].mean() > 2 * image_a[labels_a == 0].mean()


def test_cells_3d_seed_changes_data():
    _, a = samples.cells_3d(seed=0)
    _, b = samples.cells_3d(seed=1)
    assert not np.array_equal(a, b)


def test_photo_2d_is_deterministic():
    rgb_a, mask_a = samples.photo_2d()
    rgb_b, mask_b = samples.photo_2d()
    np.testing.assert_array_equal(rgb_a, rgb_b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert rgb_a.shape == (480, 640, 3) and rgb_a.dtype == np.uint8
    assert mask_a.shape == (480, 640)
    assert set(np.unique(mask_a)) == {0, 1, 2, 3}
    assert not np.array_equal(samples.photo_2d(seed=3)[1], mask_a)


def test_samples_are_fast():
    start = time.perf_counter()
    samples.cells_3d()
    samples.photo_2d()
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("shape", [(0, 4, 4), (4, 4)])
def test_cells_3d_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        samples.cells_3d(shape=shape)
