"""Datasets as tar shards: the same images as a folder and as shards (local, over HTTP) are the
same items and give the same records; damaged, incomplete and duplicated shards are never a
silently shorter dataset; shards split over ranks (more in tests/test_shards_split.py); the converter is lossless and
deterministic."""
import functools
import http.server
import io
import json
import sys
import tarfile
import threading
import tracemalloc
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from harness.config import RunConfig
from harness.data.brace import BraceError, expand
from harness.data.datasets import load_dataset
from harness.data.images import read_image
from harness.data.manifest import build_manifest
from harness.data.shard_writer import write_shards
from harness.data.shards import ShardError, check_location, image_owners, shard_slots
from harness.data.spec import RunSpec
from harness.engine.runner import run

METRICS = ("PSNR", "SSIM", "L1")


# --- brace patterns -------------------------------------------------------------------------

def test_brace_ranges_keep_zero_padding_and_lists_multiply_in_order():
    assert expand("shards-{0000..0003}.tar") == [f"shards-000{i}.tar" for i in range(4)]
    assert expand("s{8..11}") == ["s8", "s9", "s10", "s11"]  # no leading zero: no padding
    assert expand("s{08..11}") == ["s08", "s09", "s10", "s11"]
    assert expand("{train,val}-{0..1}.tar") == ["train-0.tar", "train-1.tar", "val-0.tar", "val-1.tar"]
    assert expand("{-1..1}") == ["-1", "0", "1"]
    assert expand("plain.tar") == ["plain.tar"]
    assert expand("https://host/a-{00..01}.tar") == ["https://host/a-00.tar", "https://host/a-01.tar"]


@pytest.mark.parametrize("pattern,reason", [
    ("s-{0..3.tar", "never closed"), ("s-0..3}.tar", "closes no"), ("s-{}.tar", "at least two"),
    ("s-{a}.tar", "at least two"), ("s-{3..1}.tar", "runs backwards"), ("s-{0..x}.tar", "not a range"),
    ("s-{a,{b,c}}.tar", "nested"), ("s-{a,,b}.tar", "non-empty"), ("s-{1..2..3}.tar", "not a range"),
])
def test_a_bad_brace_pattern_is_one_line_error(pattern, reason):
    with pytest.raises(BraceError) as error:
        expand(pattern)
    assert reason in str(error.value) and pattern in str(error.value) and "\n" not in str(error.value)


# --- data ------------------------------------------------------------------------------------

def _images() -> dict[str, np.ndarray]:
    """Small photos of several kinds: RGB, grey, RGBA (alpha dropped on reading)."""
    small = lambda a: np.array(Image.fromarray(a).resize((48, 40)))
    rgba = np.dstack([small(data.coffee()), np.full((40, 48), 200, np.uint8)])
    return {"astronaut.jpg": small(data.astronaut()), "camera.png": small(data.camera()),
            "chelsea.png": small(data.chelsea()), "coffee-alpha.png": rgba, "rocket.jpg": small(data.rocket())}


def _mask(index: int) -> np.ndarray:
    mask = np.zeros((40, 48), np.uint8)
    mask[5 + index : 20 + 2 * index, 8 : 20 + 3 * index] = 255
    return mask


def make_folder(root: Path, with_masks: bool, unmasked: tuple[str, ...] = ()) -> Path:
    """``root`` flat, or ``images/`` and ``masks/`` (one per image but the ``unmasked`` ones)."""
    images = root / "images" if with_masks else root
    images.mkdir(parents=True)
    for index, (name, pixels) in enumerate(_images().items()):
        Image.fromarray(pixels).save(images / name, quality=90)
        if with_masks and name not in unmasked:
            (root / "masks").mkdir(exist_ok=True)
            Image.fromarray(_mask(index)).save(root / "masks" / f"{Path(name).stem}.png")
    return root


@pytest.fixture
def http_root():
    """A folder served on 127.0.0.1 (an ephemeral port) while the test runs: ``serve(folder)`` gives
    its base URL; with ``ranged`` the server answers ``Range: bytes=A-B`` with 206 and those bytes
    (Python's own server ignores ranges: it sends the whole file)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class Ranged(Quiet):
        def do_GET(self):
            data = Path(self.translate_path(self.path)).read_bytes()
            asked = self.headers.get("Range")
            if asked:
                first, last = map(int, asked[len("bytes="):].split("-"))
                data = data[first : last + 1]
            self.send_response(206 if asked else 200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def serve(folder: Path, ranged: bool = False) -> str:
        handler = functools.partial(Ranged if ranged else Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    servers = []
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


# --- the acceptance test: folder == local shards == shards over HTTP ---------------------------

@pytest.mark.parametrize("with_masks", [False, True], ids=["generated-masks", "own-masks"])
def test_folder_and_shards_local_and_http_give_identical_manifests_and_records(tmp_path, http_root, monkeypatch,
                                                                               with_masks):
    folder = make_folder(tmp_path / "folder", with_masks)
    written = write_shards(load_dataset("folder", folder), tmp_path / "shards", per_shard=2)
    assert [p.name for p in written.shards] == ["shards-0000.tar", "shards-0001.tar", "shards-0002.tar"]
    url = http_root(tmp_path / "shards")
    roots = {"folder": ("folder", str(folder)), "local": ("shards", str(tmp_path / "shards/shards-{0000..0002}.tar")),
             "http": ("shards", url + "/shards-{0000..0002}.tar")}
    runs = {}
    for name, (dataset, root) in roots.items():
        monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / f"cache-{name}"))  # each computes its own numbers
        spec = RunSpec(dataset=dataset, data_root=root, size=32)
        runs[name] = run(RunConfig.of(spec, ["telea"], out=tmp_path / "runs", metrics=METRICS))
    folder_run = runs["folder"]
    assert len(folder_run.manifest.items) >= 4
    assert folder_run.methods[0].predicted == len(folder_run.manifest.items)
    assert folder_run.manifest.failures == []
    for name in ("local", "http"):
        other = runs[name]
        assert other.manifest.fingerprint() == folder_run.manifest.fingerprint()
        for file in ("manifest.csv", "methods/telea/records.csv"):
            assert (other.run_dir / file).read_bytes() == (folder_run.run_dir / file).read_bytes(), (name, file)
        assert other.methods[0].predicted == len(other.manifest.items)  # computed, not read from the folder's cache
        shards = json.loads((other.run_dir / "run.json").read_text())["shards"]
        assert [s["samples"] for s in shards] == [2, 2, 1]


def test_a_folder_packed_by_gnu_tar_is_the_folder(tmp_path):
    """Shards need not come from `harness shards`: a plain ``tar -cf`` of a flat folder gives its ids and pixels."""
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        pytest.skip("no tar command")
    folder = make_folder(tmp_path / "folder", with_masks=False)
    subprocess.run(["tar", "--sort=name", "-C", str(folder), "-cf", str(tmp_path / "s.tar"), "."], check=True)
    subprocess.run(["tar", "-C", str(folder), "-czf", str(tmp_path / "s.tar.gz"), "rocket.jpg", "camera.png"], check=True)
    spec = dict(size=32, buckets="0-20")
    expected = build_manifest(RunSpec(dataset="folder", data_root=str(folder), **spec), cache_root=tmp_path / "c", roots={})
    got = build_manifest(RunSpec(dataset="shards", data_root=str(tmp_path / "s.tar"), **spec), cache_root=tmp_path / "c",
                         roots={})
    assert got.to_csv() == expected.to_csv() and got.fingerprint() == expected.fingerprint()
    zipped = load_dataset("shards", str(tmp_path / "s.tar.gz"))
    assert [i.id for i in zipped.images] == ["rocket.jpg", "camera.png"]
    assert np.array_equal(zipped.images[1].load(), read_image(folder / "camera.png"))


def test_a_shard_stream_is_never_held_whole_in_memory(tmp_path, http_root):
    """24 incompressible images of 0.48 MB in one shard read over HTTP: the reader's peak
    allocation is a few images, not the shard."""
    folder = tmp_path / "noise"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png", compress_level=0)
    write_shards(load_dataset("folder", folder), tmp_path / "shards", per_shard=100)
    image, shard = (folder / "00.png").stat().st_size, (tmp_path / "shards/shards-0000.tar").stat().st_size
    url = http_root(tmp_path / "shards") + "/shards-0000.tar"
    tracemalloc.start()
    try:
        dataset = load_dataset("shards", url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(dataset.images) == 24 and shard > 24 * image
    assert peak < 5 * image, (peak, image, shard)  # measured: 3.3 images
    assert np.array_equal(dataset.images[5].load(), read_image(folder / "05.png"))


# --- damaged and incomplete shards -----------------------------------------------------------

def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _member_offsets(blob: bytes) -> list[int]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        return [m.offset for m in tar.getmembers()]


@pytest.mark.parametrize("cut", ["inside-data", "at-a-header", "inside-a-header"])
def test_a_truncated_shard_is_refused_naming_it_and_what_it_yielded(tmp_path, cut):
    (tmp_path / "s-0.tar").write_bytes(_tar([("x.png", _png(9))]))
    good = _tar([(f"{k}.png", _png(i)) for i, k in enumerate("abc")])
    header = _member_offsets(good)[2]  # of c.png; b is known complete once a member of another key starts
    end, complete = {"inside-data": (header + 512 + 10, 2), "at-a-header": (header, 1),
                     "inside-a-header": (header + 100, 1)}[cut]
    (tmp_path / "s-1.tar").write_bytes(good[:end])
    with pytest.raises(ShardError) as error:
        load_dataset("shards", str(tmp_path / "s-{0..1}.tar"))
    message = str(error.value)
    assert message.startswith(str(tmp_path / "s-1.tar")) and f"after {complete} complete sample(s)" in message
    assert "\n" not in message


def test_a_gzip_shard_reads_as_the_plain_one(tmp_path):
    import gzip

    plain = _tar([("a.png", _png(0)), ("b.png", _png(1))])
    (tmp_path / "p.tar").write_bytes(plain)
    (tmp_path / "z.tar.gz").write_bytes(gzip.compress(plain, mtime=0))
    a, b = load_dataset("shards", str(tmp_path / "p.tar")), load_dataset("shards", str(tmp_path / "z.tar.gz"))
    assert [i.id for i in a.images] == [i.id for i in b.images] == ["a.png", "b.png"]
    for x, y in zip(a.images, b.images):
        assert np.array_equal(x.load(), y.load())


def test_a_sample_without_image_is_a_counted_input_failure(tmp_path):
    blob = _tar([("a.png", _png(0)), ("b.json", json.dumps({"id": "b.jpg"}).encode()), ("c.png", _png(2))])
    (tmp_path / "s.tar").write_bytes(blob)
    manifest = build_manifest(RunSpec(dataset="shards", data_root=str(tmp_path / "s.tar"), size=16, buckets="0-60"),
                              cache_root=tmp_path / "cache", roots={})
    assert sorted({i.image_id for i in manifest.items}) == ["a.png", "c.png"]
    assert [(f.item_id.split("|")[0], f.stage) for f in manifest.failures] == [("b.jpg", "input")]
    assert "sample 'b' has no image (b.json)" in manifest.failures[0].reason
    assert manifest.bucket_sizes() == {"0-60": 3}  # n counts it


def test_a_sample_without_its_own_mask_is_a_counted_input_failure(tmp_path):
    folder = make_folder(tmp_path / "folder", with_masks=True, unmasked=("chelsea.png",))
    write_shards(load_dataset("folder", folder), tmp_path / "s", per_shard=10)
    dataset = load_dataset("shards", str(tmp_path / "s/shards-0000.tar"))
    assert dataset.default_masks == "paired" and len(dataset.paired_masks.files) == 4
    assert dataset.unmatched == (("chelsea.png", f"no mask in {tmp_path / 's/shards-0000.tar'}"),)


def test_a_broken_mask_in_a_shard_is_named_by_its_member_and_the_fingerprint_is_stable(tmp_path):
    """The failure's reason enters the data fingerprint: naming the mask's temporary spool copy
    made every build of the same shards a different run."""
    (tmp_path / "s.tar").write_bytes(_tar([("a.png", _png(0)), ("a.mask.png", b"not a png"),
                                           ("b.png", _png(1)), ("b.mask.png", _png(2))]))
    spec = RunSpec(dataset="shards", data_root=str(tmp_path / "s.tar"), size=24)
    first, second = (build_manifest(spec, cache_root=tmp_path / "cache", roots={}) for _ in range(2))
    assert first.fingerprint() == second.fingerprint()
    [failure] = [f for f in first.failures if f.item_id == "a.png|a.mask.png"]
    assert f"{tmp_path / 's.tar'}:a.mask.png: cannot be read as an image" in failure.reason
    assert "harness-shards-" not in failure.reason


def test_the_spooled_masks_of_each_shard_have_a_folder_of_their_own(tmp_path):
    """A million masks in one folder cost ~3.5x more per file to create than in folders of
    10,000 (benchmarks/spool_files.py): each shard's masks go to a folder of their own."""
    folder = make_folder(tmp_path / "folder", with_masks=True)
    write_shards(load_dataset("folder", folder), tmp_path / "s", per_shard=2)
    dataset = load_dataset("shards", str(tmp_path / "s/shards-{0000..0002}.tar"))
    files = dataset.paired_masks.files
    by_folder = {}
    for mask in files:
        by_folder.setdefault(mask.path.parent, []).append(mask.image_id)
    assert len(files) == 5 and len(by_folder) == 3  # 2 + 2 + 1 masks, one folder per shard
    assert [len(ids) for ids in by_folder.values()] == [2, 2, 1]
    assert len({p.parent for p in by_folder}) == 1  # all under the one spool, removed with the dataset


def test_an_id_in_two_shards_is_refused_naming_both(tmp_path):
    (tmp_path / "s-0.tar").write_bytes(_tar([("a.png", _png(0)), ("b.png", _png(1))]))
    (tmp_path / "s-1.tar").write_bytes(_tar([("c.png", _png(2)), ("a.png", _png(3))]))
    with pytest.raises(ShardError, match=r"s-1\.tar: image 'a\.png' \(sample 'a'\) is also in .*s-0\.tar"):
        load_dataset("shards", str(tmp_path / "s-{0..1}.tar"))


def test_a_key_that_comes_back_later_in_its_shard_is_refused(tmp_path):
    (tmp_path / "s.tar").write_bytes(_tar([("a.png", _png(0)), ("b.png", _png(1)), ("a.json", b"{}")]))
    with pytest.raises(ShardError, match=r"s\.tar: sample 'a' comes back at 'a\.json' after other samples"):
        load_dataset("shards", str(tmp_path / "s.tar"))


def test_two_images_in_one_sample_are_refused(tmp_path):
    (tmp_path / "s.tar").write_bytes(_tar([("a.png", _png(0)), ("a.jpg", _png(1))]))
    with pytest.raises(ShardError, match="sample 'a' has 2 images"):
        load_dataset("shards", str(tmp_path / "s.tar"))


def test_missing_shards_and_http_errors_name_the_shard(tmp_path, http_root):
    (tmp_path / "s-0.tar").write_bytes(_tar([("a.png", _png(0))]))
    with pytest.raises(ShardError, match=r"1 of 2 shard\(s\) of .* do not exist, first: .*s-1\.tar"):
        check_location(str(tmp_path / "s-{0..1}.tar"))
    url = http_root(tmp_path) + "/s-9.tar"
    with pytest.raises(ShardError, match=rf"{url}: cannot be opened \(HTTP Error 404"):
        load_dataset("shards", url)


# --- ranks --------------------------------------------------------------------------------

def test_shards_split_over_three_ranks_give_every_sample_one_owner(tmp_path):
    counts = [3, 1, 2, 2, 3, 1, 2]
    for s, count in enumerate(counts):
        (tmp_path / f"s-{s}.tar").write_bytes(_tar([(f"{s}-{k}.png", _png(10 * s + k)) for k in range(count)]))
    dataset = load_dataset("shards", str(tmp_path / "s-{0..6}.tar"))
    assert [c for _, c in dataset.parts] == counts
    owners = image_owners(dataset, 3)
    assert len(owners) == sum(counts)
    assert [dataset.images[p].id for p, owner in enumerate(owners) if owner == 1] == \
        ["1-0.png", "4-0.png", "4-1.png", "4-2.png"]  # shards 1, 4
    assert shard_slots(7, 0, 3) == [0, 3, 6] and shard_slots(7, 2, 3) == [2, 5]


# --- fsspec URLs ---------------------------------------------------------------------------

def test_an_fsspec_url_is_read_through_fsspec(tmp_path, monkeypatch):
    blobs = {"memory://b/s-0.tar": _tar([("a.png", _png(0))]), "memory://b/s-1.tar": _tar([("b.png", _png(1))])}
    opened = []

    def open_(url, mode):
        opened.append((url, mode))
        return types.SimpleNamespace(open=lambda: io.BytesIO(blobs[url]))

    monkeypatch.setitem(sys.modules, "fsspec", types.SimpleNamespace(open=open_))
    dataset = load_dataset("shards", "memory://b/s-{0..1}.tar")
    assert [i.id for i in dataset.images] == ["a.png", "b.png"] and opened == [(u, "rb") for u in blobs]
    assert np.array_equal(dataset.images[1].load(), np.asarray(Image.open(io.BytesIO(_png(1)))))


def test_an_fsspec_url_without_fsspec_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fails
    with pytest.raises(ShardError, match=r"s3://bucket/s-0\.tar: reading s3:// shards needs fsspec: pip install fsspec"):
        check_location("s3://bucket/s-{0..1}.tar")


# --- the converter ---------------------------------------------------------------------------

def test_the_converter_is_deterministic_and_keeps_the_stored_bytes(tmp_path):
    folder = make_folder(tmp_path / "folder", with_masks=True, unmasked=("chelsea.png",))
    dataset = load_dataset("folder", folder)
    first = write_shards(dataset, tmp_path / "a", per_shard=3)
    second = write_shards(dataset, tmp_path / "b", per_shard=3)
    assert [p.read_bytes() for p in first.shards] == [p.read_bytes() for p in second.shards]
    assert (first.samples, first.masks, first.encoded, first.without_image) == (5, 4, 0, 0)
    with tarfile.open(first.shards[0]) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["000000.jpg", "000000.mask.png", "000000.json",
                                             "000001.png", "000001.mask.png", "000001.json",
                                             "000002.png", "000002.json"]  # chelsea has no mask
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
        assert tar.extractfile("000000.jpg").read() == (folder / "images/astronaut.jpg").read_bytes()
        assert tar.extractfile("000001.mask.png").read() == (folder / "masks/camera.png").read_bytes()
        assert json.loads(tar.extractfile("000001.json").read()) == {"id": "camera.png", "mask_id": "camera.png"}
    with pytest.raises(ValueError, match="already holds shards"):
        write_shards(dataset, tmp_path / "a", per_shard=3)


def test_a_dataset_without_files_is_stored_as_lossless_png(tmp_path):
    sample = load_dataset("sample")
    written = write_shards(sample, tmp_path / "s", per_shard=5)
    assert written.encoded == len(sample.images) == 9
    shards = load_dataset("shards", str(tmp_path / "s/shards-{0000..0001}.tar"))
    assert [i.id for i in shards.images] == [i.id for i in sample.images]
    for a, b in zip(sample.images[:3], shards.images[:3]):
        assert np.array_equal(a.load(), b.load())


# --- the command line ------------------------------------------------------------------------

PROBE = """
import json, sys
from harness.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps([code, [m for m in ("torch", "torchvision", "pandas") if m in sys.modules]]))
"""


@pytest.mark.parametrize("root,expected", [
    ("s-{0..1.tar", "'{' at character 3 is never closed"),
    ("s-{0..1}.tar", "2 of 2 shard(s) of s-{0..1}.tar do not exist, first: s-0.tar"),
    (None, "--dataset shards needs --data-root PATTERN"),
])
def test_a_shard_mistake_is_one_line_before_any_heavy_import(tmp_path, root, expected):
    import os
    import subprocess

    flags = ["run", "--methods", "telea", "--dataset", "shards", *(["--data-root", root] if root else [])]
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA_SHARDS"}
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(flags)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**env, "COLUMNS": "400", "PYTHONPATH": str(Path(__file__).parents[1])})
    code, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert code == 2 and heavy == []
    assert proc.stderr.strip().startswith("error: ") and expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_shards_command_converts_and_reports(tmp_path, capsys):
    from harness.cli import main

    folder = make_folder(tmp_path / "folder", with_masks=False)
    assert main(["shards", "--dataset", "folder", "--data-root", str(folder), "--out", str(tmp_path / "out"),
                 "--per-shard", "4"]) == 0
    assert f"5 samples of folder (0 with their own mask) in 2 shard(s): {tmp_path / 'out'}/shards-{{0000..0001}}.tar" \
        in capsys.readouterr().err.replace("\n", "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shards-0000.tar", "shards-0001.tar"]
