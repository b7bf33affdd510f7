"""The 512-px protocol datasets on small fixtures of their official layouts, against their
official geometry re-stated (MAT's dataset_512_val.py loader, LaMa's gen_mask_dataset.py resize)."""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from harness.data import lists
from harness.data.datasets import load_dataset
from harness.data.protocol_datasets import lama_rescale, mat_val_crop
from harness.data.images import array_sha256
from harness.data.manifest import build_manifest
from harness.data.spec import RunSpec


def _photo(height: int, width: int, grey: bool = False) -> np.ndarray:
    image = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    return image[:, :, 0] if grey else image


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def _mat_reference(path, res=512):
    """MAT d273d89 datasets/dataset_512_val.py ImageFolderMaskDataset._load_raw_image (dir, non-png)."""
    image = np.array(Image.open(path))
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    H, W, C = image.shape
    if H < res or W < res:
        top = 0
        bottom = max(0, res - H)
        left = 0
        right = max(0, res - W)
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT)
    H, W, C = image.shape
    h = (H - res) // 2
    w = (W - res) // 2
    return image[h:h + res, w:w + res, :]


def _lama_reference(path, out_min_size=512):
    """LaMa 786f593 bin/gen_mask_dataset.py process_images: open, RGB, rescale (upscale mode)."""
    image = Image.open(path).convert("RGB")
    factor = out_min_size / min(image.size)
    out_size = (np.array(image.size) * factor).round().astype("uint32")
    image = image.resize(out_size, resample=Image.BICUBIC)
    return np.array(image)


@pytest.mark.parametrize("shape", [(512, 683), (683, 512), (400, 700), (300, 200), (512, 512)])
def test_mat_crop_equals_mat_loader(tmp_path, shape):
    for grey in (False, True):
        path = tmp_path / f"{shape}-{grey}.jpg"
        _save(path, _photo(*shape, grey=grey))
        ours = mat_val_crop(np.array(Image.open(path).convert("RGB")))
        assert ours.shape == (512, 512, 3)
        assert np.array_equal(ours, _mat_reference(path))


@pytest.mark.parametrize("shape", [(512, 683), (683, 512), (300, 451), (1024, 1365), (512, 512)])
def test_lama_rescale_equals_lama_resize(tmp_path, shape):
    path = tmp_path / "x.jpg"
    _save(path, _photo(*shape))
    ours = lama_rescale(np.array(Image.open(path).convert("RGB")))
    reference = _lama_reference(path)
    assert min(ours.shape[:2]) == 512 and np.array_equal(ours, reference)


def test_places365_val_lists_all_36500_and_scores_mats_crop(tmp_path):
    folder = tmp_path / "val_large"
    for n, shape in ((1, (512, 683)), (2, (700, 512))):
        _save(folder / f"Places365_val_{n:08d}.jpg", _photo(*shape))
    dataset = load_dataset("places365-val", tmp_path)
    assert len(dataset.images) == 36_500
    assert dataset.images[0].id == "Places365_val_00000001.jpg" and dataset.images[-1].id == "Places365_val_00036500.jpg"
    manifest = build_manifest(RunSpec(dataset="places365-val", data_root=str(tmp_path), limit=3, size=512))
    assert manifest.spec.masks == "mat-large-512" and len(manifest.items) == 2
    for item in manifest.items:
        image, _ = manifest.load(item)
        assert np.array_equal(image, _mat_reference(folder / item.image_id))
    assert [f.item_id.split("|")[0] for f in manifest.failures] == ["Places365_val_00000003.jpg"]  # missing: counted


def test_places365_test30k_is_lamas_list_with_lamas_resize(tmp_path):
    names = lists.lama_places365_test_30k()
    assert len(names) == len(set(names)) == 30_000 and names == sorted(names)
    assert names[:2] == ["Places365_test_00000001.jpg", "Places365_test_00000009.jpg"]
    folder = tmp_path / "test_large"
    for name, shape in zip(names[:2], ((512, 683), (600, 800))):
        _save(folder / name, _photo(*shape))
    manifest = build_manifest(RunSpec(dataset="places365-test30k", data_root=str(tmp_path), limit=2, size=512,
                                      masks="lama-thin-512"))
    for item in manifest.items:
        image, _ = manifest.load(item)
        resized = _lama_reference(folder / item.image_id)
        h, w = resized.shape[:2]
        assert np.array_equal(image, resized[(h - 512) // 2:(h - 512) // 2 + 512, (w - 512) // 2:(w - 512) // 2 + 512])


@pytest.mark.parametrize("layout", ["data256x256", "visual_test_source_256"])
def test_celebahq_lama_reads_both_layouts_under_lamas_names(tmp_path, layout):
    ids = sorted(lists.lama_celebahq_visual_test(), key=lambda n: int(n[:-4]))
    assert len(ids) == len(set(ids)) == 2000 and ids[:2] == ["3.jpg", "14.jpg"]
    files = [f"{int(n[:-4]) + 1:05d}.jpg" if layout == "data256x256" else n for n in ids[:2]]
    for k, name in enumerate(files):
        _save(tmp_path / layout / name, _photo(256, 256)[:, ::1 - 2 * k])
    dataset = load_dataset("celebahq-lama", tmp_path)
    assert [i.id for i in dataset.images[:2]] == ids[:2] and len(dataset.images) == 2000
    manifest = build_manifest(RunSpec(dataset="celebahq-lama", data_root=str(tmp_path), limit=2, size=256))
    assert manifest.spec.masks == "lama-thick-256"
    for item, name in zip(manifest.items, files):
        image, _ = manifest.load(item)
        assert array_sha256(image) == array_sha256(np.array(Image.open(tmp_path / layout / name)))


def test_stored_lists_rebuild_the_upstream_files():
    assert hashlib.sha256("".join(f"{n}\n" for n in lists.lama_celebahq_visual_test()).encode()).hexdigest() == (
        "cdde2843dfce0e11b5711a0e4ae12674cf2d01a9dffc967538a2237eb0966ebf")
    with pytest.raises(RuntimeError, match="damaged"):
        lists._checked({"count": 2, "sha256_of_list_file": "0" * 64}, ["a", "b"])


def _celebahq_tables(root, val_every: int = 10, val_count: int = 2993):
    """CelebAMask-HQ's mapping layout (header, idx orig_idx orig_file) and CelebA's partition file,
    synthetic: HQ image k maps to CelebA file 200000 - k; every tenth (up to val_count) is val."""
    rows = ["idx orig_idx orig_file"] + [f"{k} {199999 - k} {200000 - k:06d}.jpg" for k in range(30000)]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(rows) + "\n")
    val = {k for k in range(0, 30000, val_every)}
    val = set(sorted(val)[:val_count])
    partition = [f"{200000 - k:06d}.jpg {'1' if k in val else '0'}" for k in range(30000)]
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return sorted(val)


def test_celebahq_val_is_celebas_partition_through_the_mapping(tmp_path):
    val = _celebahq_tables(tmp_path)
    for k in val[:2]:
        _save(tmp_path / "CelebA-HQ-img" / f"{k}.jpg", _photo(300, 300))
    dataset = load_dataset("celebahq-val", tmp_path)
    assert [i.id for i in dataset.images] == [f"{k}.jpg" for k in val]
    manifest = build_manifest(RunSpec(dataset="celebahq-val", data_root=str(tmp_path), limit=2, size=512))
    assert [i.image_id for i in manifest.items] == ["0.jpg", "10.jpg"] and not manifest.failures
    _celebahq_tables(tmp_path, val_count=2990)
    with pytest.raises(ValueError, match="give 2990 validation images, not CelebA-HQ's 2993"):
        load_dataset("celebahq-val", tmp_path)


def _stylegan_reference(path, levels: int):
    """NVlabs/stylegan2 dataset_tool.py TFRecordExporter.add_image, the image of level ``levels``
    below the full resolution (CHW as upstream), back to HWC."""
    img = np.asarray(Image.open(path)).transpose([2, 0, 1])
    for lod in range(levels + 1):
        if lod:
            img = img.astype(np.float32)
            img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
        quant = np.rint(img).clip(0, 255).astype(np.uint8)
    return quant.transpose([1, 2, 0])


@pytest.mark.parametrize("nested", [True, False])
def test_ffhq_val_is_images_60000_to_69999_at_stylegans_512_level(tmp_path, nested):
    folder = tmp_path / "images1024x1024"
    for k, n in enumerate((60000, 60001)):
        _save(folder / (f"60000/{n:05d}.png" if nested else f"{n:05d}.png"), _photo(1024, 1024)[:, ::1 - 2 * k])
    dataset = load_dataset("ffhq-val", tmp_path)
    assert len(dataset.images) == 10_000 and dataset.images[0].id == "60000.png" and dataset.images[-1].id == "69999.png"
    manifest = build_manifest(RunSpec(dataset="ffhq-val", data_root=str(tmp_path), limit=2, size=512))
    assert manifest.spec.masks == "comodgan-512" and len(manifest.items) == 2
    for item in manifest.items:
        image, _ = manifest.load(item)
        assert np.array_equal(image, _stylegan_reference(dataset.images[int(item.image_id[:5]) - 60000].path, 1))


def test_stylegan_pyramid_levels_and_bad_sizes():
    from harness.data.protocol_datasets import stylegan_pyramid

    image = _photo(1024, 1024)
    quarter = stylegan_pyramid(image, 256)
    chained = image.astype(np.float32)
    for _ in range(2):
        chained = (chained[0::2, 0::2] + chained[0::2, 1::2] + chained[1::2, 0::2] + chained[1::2, 1::2]) * 0.25
    assert np.array_equal(quarter, np.rint(chained).clip(0, 255).astype(np.uint8))
    assert np.array_equal(stylegan_pyramid(image[:512, :512]), image[:512, :512])
    with pytest.raises(ValueError, match="power of two"):
        stylegan_pyramid(_photo(768, 768))
