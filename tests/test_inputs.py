"""Images, masks and the manifest: conversions, bad files, buckets, deterministic pairing."""
import numpy as np
import pytest
from PIL import Image

from harness.data.images import InputError, prepare_mask, read_image
from harness.data.manifest import build_manifest
from harness.data.spec import RunSpec
from masks.buckets import PAPER_BUCKETS, hole_ratio, parse_buckets
from masks.generator import free_form_mask
from harness.data.mask_sets import load_mask, load_mask_set


def test_modes_become_uint8_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(tmp_path / "g16.png")
    gray, rgba, g16 = (read_image(tmp_path / n) for n in ("gray.png", "rgba.png", "g16.png"))
    assert gray.shape == (20, 30, 3) and (gray[:, :, 2] == rgb[:, :, 0]).all()
    assert (rgba == rgb).all()  # alpha dropped
    assert g16.dtype == np.uint8 and (g16[:, :, 0] == rgb[:, :, 0]).all()  # 16-bit scaled by 1/257


def test_truncated_and_garbage_files_raise_input_error(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    for name in ("cut.png", "junk.jpg"):
        with pytest.raises(InputError, match=name):
            read_image(tmp_path / name)


def test_mask_grey_levels_threshold_and_polarity():
    raw = np.array([[0, 1, 100, 101, 255, 0, 0, 0]] * 8, np.uint8)
    misf = prepare_mask(raw, 8, threshold=0)
    assert misf[0].tolist() == [0, 1, 1, 1, 1, 0, 0, 0]
    dunhuang = prepare_mask(raw, 8, threshold=100, hole_is_white=False)
    assert dunhuang[0].tolist() == [1, 1, 1, 0, 0, 1, 1, 1]


def test_mask_of_other_size_is_resized_to_evaluation_size():
    raw = np.zeros((512, 512), np.uint8)
    raw[:256] = 255
    mask = prepare_mask(raw, 256)
    assert mask.shape == (256, 256) and hole_ratio(mask) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bucket", PAPER_BUCKETS)
def test_generator_fills_each_bucket_deterministically(bucket):
    for index in range(3):
        mask = free_form_mask(64, bucket, seed=5, index=index)
        assert bucket.contains(hole_ratio(mask))
        assert (mask == free_form_mask(64, bucket, seed=5, index=index)).all()
    assert not (free_form_mask(64, bucket, 5, 0) == free_form_mask(64, bucket, 6, 0)).all()


def test_parse_buckets():
    assert [b.label for b in parse_buckets("0-10,10-20")] == ["0-10", "10-20"]
    with pytest.raises(ValueError):
        parse_buckets("a-b")


def test_manifest_is_byte_identical_for_same_seed_and_changes_with_seed():
    spec = RunSpec(limit=2, size=64)
    first, second = build_manifest(spec).to_csv(), build_manifest(spec).to_csv()
    assert first == second
    assert build_manifest(RunSpec(limit=2, size=64, seed=1)).to_csv() != first
    lines = first.splitlines()
    assert lines[0] == "item_id,bucket,image_id,mask_id,hole_ratio,source_bin,image_sha256,mask_sha256"
    assert len(lines) == 1 + 2 * 3  # 2 images x 3 buckets


def _folder_dataset(tmp_path, ratios):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i, ratio in enumerate(ratios):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "images" / f"im{i}.png")
        mask = np.zeros((40, 40), np.uint8)
        mask[: int(round(ratio * 40))] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"im{i}.png")


def test_folder_with_own_masks_buckets_by_measured_ratio_and_records_bad_images(tmp_path):
    _folder_dataset(tmp_path, [0.1, 0.3, 0.5, 0.9])
    (tmp_path / "images" / "im4.png").write_bytes(b"broken")
    small_hole = np.zeros((8, 8), np.uint8)
    small_hole[:1] = 255
    Image.fromarray(small_hole).save(tmp_path / "masks" / "im4.png")
    manifest = build_manifest(RunSpec(dataset="folder", data_root=str(tmp_path), size=40))
    assert {(i.image_id, i.bucket) for i in manifest.items} == {("im0.png", "0-20"), ("im1.png", "20-40"), ("im2.png", "40-60")}
    failures = {f.item_id: f for f in manifest.failures}
    assert sorted(failures) == ["im3.png|im3.png", "im4.png|im4.png"]
    assert failures["im3.png|im3.png"].stage == "mask" and "outside every bucket" in failures["im3.png|im3.png"].reason
    assert failures["im4.png|im4.png"].stage == "input" and failures["im4.png|im4.png"].bucket == "0-20"


def test_missing_dataset_names_layout_and_source():
    with pytest.raises(FileNotFoundError, match="list_eval_partition"):
        build_manifest(RunSpec(dataset="celeba"))


def test_nvidia_masks_measured_ratio_matches_source_bin(nvidia_masks):
    mask_set = load_mask_set("nvidia", nvidia_masks)
    assert len(mask_set.files) == 12000
    # At native resolution the measured ratio lies in the file's nominal bin: white = hole.
    for index, (low, high) in [(0, (0.01, 0.1)), (5000, (0.2, 0.3)), (11999, (0.5, 0.6))]:
        mask = mask_set.files[index]
        ratio = hole_ratio(load_mask(mask_set, mask, 512))
        assert low <= ratio <= high + 1e-9, (mask.id, mask.source_bin, ratio)


def test_nvidia_pairing_uses_measured_bucket(nvidia_masks, tmp_path):
    subset = tmp_path / "nv"
    subset.mkdir()
    for name in ("00000", "01999", "02500", "05000", "07000", "09000", "11000"):
        (subset / f"{name}.png").symlink_to(nvidia_masks / f"{name}.png")
    manifest = build_manifest(RunSpec(masks="nvidia", mask_root=str(subset), limit=2, size=256))
    for item in manifest.items:
        assert {"0-20": (0, .2), "20-40": (.2, .4), "40-60": (.4, .6)}[item.bucket][0] <= item.hole_ratio
        assert item.hole_ratio < {"0-20": .2, "20-40": .4, "40-60": .6}[item.bucket]


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_celeba_layout_and_official_splits(tmp_path):
    rng = np.random.default_rng(1)
    lines = []
    for i, part in enumerate([0, 0, 1, 2, 2]):
        name = f"{i + 1:06d}.jpg"
        _save(tmp_path / "img_align_celeba" / name, rng.integers(0, 256, (218, 178, 3), dtype=np.uint8))
        lines.append(f"{name} {part}")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    from harness.data.datasets import load_dataset

    assert [i.id for i in load_dataset("celeba", tmp_path).images] == ["000004.jpg", "000005.jpg"]
    assert [i.id for i in load_dataset("celeba", tmp_path, split="train").images] == ["000001.jpg", "000002.jpg"]
    manifest = build_manifest(RunSpec(dataset="celeba", data_root=str(tmp_path), masks="generated", limit=1, size=64))
    image, _ = manifest.load(manifest.items[0])
    assert image.shape == (64, 64, 3)  # 178x218 centre-cropped to 178x178, resized


def test_dunhuang_masks_are_thresholded_at_100_and_reversed(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("a", "b"):
        _save(tmp_path / "test_gt" / f"{name}.jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        mask = np.full((64, 64), 255, np.uint8)
        mask[:16] = 90  # dark (<= 100) = hole in the challenge's masks
        _save(tmp_path / "test" / f"{name}_mask.png", mask)
    manifest = build_manifest(RunSpec(dataset="dunhuang", data_root=str(tmp_path), size=64))
    assert [(i.image_id, i.bucket) for i in manifest.items] == [("a.jpg", "default"), ("b.jpg", "default")]
    assert all(i.hole_ratio == pytest.approx(0.25) for i in manifest.items)
