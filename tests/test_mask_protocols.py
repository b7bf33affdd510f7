"""The seeded LaMa / MAT / Co-Mod-GAN mask sources against the official generators re-stated."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.builtins import SEEDED_MASKS
from harness.cli import main
from harness.data.mask_sets import mask_source
from harness.data.manifest import build_manifest
from harness.data.spec import RunSpec
from masks import lama, seeded
from masks.sources import SEEDED
from tests.upstream_masks import LAMA_YAML, MAT_CALLS, lama_reference, mat_reference

SEEDS = (0, 7, 2**32 - 1)
INDICES = (0, 1, 4099)


def test_every_source_has_a_reference():
    assert set(seeded.GENERATORS) == set(LAMA_YAML) | set(MAT_CALLS)
    assert len(seeded.GENERATORS) == 6 + 4 + 1 + 5


def test_every_generator_is_a_registered_mask_set_with_one_whole_bucket():
    assert list(SEEDED_MASKS) == list(seeded.GENERATORS)
    for name in SEEDED_MASKS:
        source = mask_source(name)
        assert (source.name, source.pairing, source.default_buckets) == (name, SEEDED, "0-100")


@pytest.mark.parametrize("name", sorted(LAMA_YAML))
def test_lama_sources_equal_process_images(name, tmp_path, capsys):
    for seed in SEEDS:
        for index in INDICES:
            ours = seeded.seeded_mask(name, seed, index)
            reference = lama_reference(name, seed, index, tmp_path)
            assert ours.dtype == np.uint8 and ours.shape == reference.shape == (seeded.mask_size(name),) * 2
            assert np.array_equal(ours, reference), (name, seed, index)
    assert "Could not make masks" not in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(MAT_CALLS))
def test_mat_and_comodgan_sources_equal_random_mask(name):
    for seed in SEEDS:
        for index in INDICES:
            ours = seeded.seeded_mask(name, seed, index)
            reference = mat_reference(name, seed, index)
            assert ours.dtype == np.uint8 and ours.shape == reference.shape
            assert np.array_equal(ours, reference), (name, seed, index)


@pytest.mark.parametrize("name, index", [("lama-thick-512", 20), ("lama-thick-256", 312)])
def test_lama_redraws_when_every_candidate_exceeds_the_tamper_area(name, index, tmp_path):
    """Seed 0 of these indices drops all five candidates on the first pass (upstream writes no
    file); the contract's second pass, stream continuing, must match too."""
    first_pass = lama._process_image(np.random.RandomState([0, index]), lama.CONFIGS[name])
    assert first_pass is None
    assert np.array_equal(seeded.seeded_mask(name, 0, index), lama_reference(name, 0, index, tmp_path))


def test_comodgan_masks_lie_in_their_open_hole_range():
    for k, (low, high) in enumerate(((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))):
        for index in range(3):
            ratio = np.mean(seeded.seeded_mask(f"comodgan-h{k}-512", 3, index) == 255)
            assert low < ratio < high


def test_a_mask_depends_only_on_seed_and_index_and_leaves_the_global_stream_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    forward = [seeded.seeded_mask("mat-small-256", 5, i) for i in range(4)]
    backward = [seeded.seeded_mask("mat-small-256", 5, i) for i in reversed(range(4))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward))
    assert np.array_equal(np.random.get_state()[1], before)
    assert not np.array_equal(forward[0], seeded.seeded_mask("mat-small-256", 6, 0))
    assert not np.array_equal(forward[0], forward[1])
    assert set(np.unique(forward[0])) <= {0, 255}


def test_lama_masks_respect_max_tamper_area():
    for name in LAMA_YAML:
        assert 0 < np.mean(seeded.seeded_mask(name, 1, 2) == 255) <= 0.5


def test_bad_names_and_seeds_are_clear_errors():
    with pytest.raises(Exception, match="unknown seeded mask source 'lama-huge-256'"):
        seeded.seeded_mask("lama-huge-256", 0, 0)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        seeded.seeded_mask("mat-small-256", 2**32, 0)


def test_hole_ratio_histogram_counts_ten_equal_bins():
    bins = seeded.hole_ratio_histogram([0.0, 0.05, 0.1, 0.55, 0.999, 1.0])
    assert [b[2] for b in bins] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[0][:2] == (0.0, 0.1) and bins[-1][1] == 1.0


def test_a_run_pairs_image_i_with_mask_i_in_one_default_bucket():
    manifest = build_manifest(RunSpec(masks="mat-small-256", size=256))
    assert manifest.spec.buckets == "0-100"
    assert len(manifest.items) == len(manifest.dataset.images) and {i.bucket for i in manifest.items} == {"0-100"}
    for index, item in enumerate(manifest.items):
        assert item.image_id == manifest.dataset.images[index].id
        _, mask = manifest.load(item)
        assert np.array_equal(mask, (mat_reference("mat-small-256", 0, index) == 255).astype(np.float32))
        assert item.hole_ratio == pytest.approx(mask.mean())


def test_given_buckets_sort_the_masks_by_measured_ratio_and_limit_counts_per_bucket():
    spec = RunSpec(masks="lama-thick-256", buckets="0-20,20-40", limit=2, seed=0, size=256)
    manifest = build_manifest(spec)
    ratios = [np.mean(seeded.seeded_mask("lama-thick-256", 0, i) == 255) for i in range(len(manifest.dataset.images))]
    expected = {"0-20": [i for i, r in enumerate(ratios) if r < 0.2][:2], "20-40": [i for i, r in enumerate(ratios) if 0.2 <= r < 0.4][:2]}
    position = {image.id: i for i, image in enumerate(manifest.dataset.images)}
    got = {b: [position[it.image_id] for it in manifest.items if it.bucket == b] for b in expected}
    assert got == expected
    assert build_manifest(spec).to_csv() == manifest.to_csv()  # second build: from the cached index


def test_a_source_of_another_size_is_a_clear_error():
    with pytest.raises(ValueError, match=r"draws 512x512 masks; run it with --size 512"):
        build_manifest(RunSpec(masks="comodgan-h2-512", size=256, limit=1))


def test_masks_command_writes_the_official_masks_and_their_histogram(tmp_path, capsys):
    assert main(["masks", "--source", "mat-small-256", "--seed", "7", "--count", "3", "--out", str(tmp_path / "m")]) == 0
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["00000.png", "00001.png", "00002.png"]
    for index, name in enumerate(files):
        with Image.open(tmp_path / "m" / name) as image:
            assert image.mode == "L"
            assert np.array_equal(np.array(image), mat_reference("mat-small-256", 7, index))
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "%" in line.split("|")[1]]
    assert len(rows) == 10 and sum(int(r[2]) for r in rows) == 3


def test_masks_command_files_do_not_depend_on_the_number_of_workers(tmp_path, capsys):
    for workers in (1, 2):
        assert main(["masks", "--source", "lama-thin-256", "--seed", "3", "--count", "4", "--workers", str(workers),
                     "--out", str(tmp_path / str(workers))]) == 0
    for name in ("00000.png", "00003.png"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()
    one, two = (out.split("\n", 1)[1] for out in capsys.readouterr().out.split("4 masks of")[1:])
    assert one == two  # the same histogram


def test_masks_command_rejects_bad_arguments(tmp_path, capsys):
    assert main(["masks", "--source", "lama-huge-256", "--count", "1", "--out", str(tmp_path)]) == 2
    assert main(["masks", "--source", "lama-thin-256", "--count", "0", "--out", str(tmp_path)]) == 2
    assert main(["masks", "--source", "lama-thin-256", "--seed", "-1", "--count", "1", "--out", str(tmp_path)]) == 2
    assert "error: --seed must lie in [0, 2**32)" in capsys.readouterr().err.replace("\n", "")
