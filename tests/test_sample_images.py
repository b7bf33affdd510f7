"""The embedded sample reads scikit-image's bundled files directly (skipping ``skimage.io``'s
plug-in scan at start-up): each image must equal what ``skimage.data``'s own loader gives."""
import subprocess
import sys

import numpy as np
import pytest
from skimage import data

from harness.data.datasets import SAMPLE_IMAGES, datasets


@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_each_sample_image_equals_scikit_image_loader(name):
    loader, _, index = name.partition(":")
    expected = getattr(data, loader)()
    expected = expected[int(index)] if index else expected
    item = {i.id: i for i in datasets()["sample"].load(None).images}[name.replace(":", "-")]
    got = item.load()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_loading_a_sample_image_does_not_import_skimage_io():
    code = ("import sys; from harness.data.datasets import datasets; "
            "[i.load() for i in datasets()['sample'].load(None).images]; "
            "print(sorted(m for m in ('skimage.io', 'scipy.linalg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
