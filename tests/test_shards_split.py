"""Tar shards split over ranks: each shard is streamed by exactly one rank (shard i by rank
i % world), which decodes and measures its images and masks; the listings are gathered, so every
rank holds the manifest one process builds, byte for byte, and reads another rank's images from
the shard without streaming it. A damaged shard or an id in two ranks' shards stops every rank
with the line one process gives. Ranks are threads here (tests/test_reduce.py's all-gather over
a barrier); tests/test_shards_gloo.py runs them as torchrun's processes."""
import gzip
import tarfile
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import harness.data.shards as shards_module
from harness.data.datasets import load_dataset
from harness.data.manifest import build_manifest
from harness.data.shard_writer import write_shards
from harness.data.shards import ShardError
from harness.data.spec import RunSpec
from tests.test_reduce import _Processes, count_decodes
from tests.test_shards import http_root  # noqa: F401 (a fixture)

WORLD = 3


def _folder(root: Path, count: int, flaws: bool = True) -> Path:
    """``count`` small noise images, each with its own mask; with ``flaws`` one has no mask and
    one is broken."""
    rng = np.random.default_rng(4)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (30, 36, 3), dtype=np.uint8)).save(root / "images" / f"im{i:02d}.png")
        if i != 5 or not flaws:
            mask = np.zeros((30, 36), np.uint8)
            mask[2 : 6 + 2 * i, 3:20] = 255
            Image.fromarray(mask).save(root / "masks" / f"im{i:02d}.png")
    if flaws:
        (root / "images" / "im03.png").write_bytes(b"broken")
    return root


def _shards(tmp_path: Path, kind: str, http_root) -> str:
    """The folder as 8 shards of 2 samples (the last one of 1): plain, gzip or plain over HTTP."""
    folder = _folder(tmp_path / "folder", 15)
    written = write_shards(load_dataset("folder", folder), tmp_path / "shards", per_shard=2)
    assert len(written.shards) == 8
    if kind == "gzip":
        for shard in written.shards:
            shard.with_suffix(".tar.gz").write_bytes(gzip.compress(shard.read_bytes(), mtime=0))
        return str(tmp_path / "shards/shards-{0000..0007}.tar.gz")
    if kind.startswith("http"):
        return http_root(tmp_path / "shards", ranged=kind == "http-range") + "/shards-{0000..0007}.tar"
    return str(tmp_path / "shards/shards-{0000..0007}.tar")


@pytest.fixture
def streams(monkeypatch):
    """Who streamed which shard from its start: (thread name, url) -> count; reads of one member
    by a rank that did not stream the shard are counted apart, as (thread name, url, "member")."""
    opened = Counter()
    original = shards_module.open_shard

    def counting(url, span=None):
        opened[(threading.current_thread().name, url, *(("member",) if span else ()))] += 1
        return original(url, span)

    monkeypatch.setattr(shards_module, "open_shard", counting)
    return opened


@pytest.mark.parametrize("kind", ["plain", "gzip", "http", "http-range"])
@pytest.mark.parametrize("masks", [None, "generated"], ids=["own-masks", "generated-masks"])
def test_each_shard_is_streamed_by_one_rank_and_every_rank_holds_the_one_process_manifest(tmp_path, http_root, streams,
                                                                                           monkeypatch, kind, masks):
    from harness.data.shards import shard_urls

    pattern = _shards(tmp_path, kind, http_root)
    urls = shard_urls(pattern)
    spec = RunSpec(dataset="shards", data_root=pattern, size=32, masks=masks, buckets="0-30,30-60")
    alone = build_manifest(spec, cache_root=tmp_path / "cache-alone", roots={})
    folder = build_manifest(RunSpec(dataset="folder", data_root=str(tmp_path / "folder"), size=32, masks=masks,
                                    buckets="0-30,30-60"), cache_root=tmp_path / "cache-folder", roots={})
    assert alone.to_csv() == folder.to_csv() and len(alone.items) >= 10
    assert {f.item_id.split("|")[0] for f in alone.failures} >= {"im03.png"}  # the broken image is counted
    decoded = count_decodes(monkeypatch)
    streams.clear()
    built = _Processes(WORLD).build(spec, tmp_path / "cache-ranks")
    # (b) every shard streamed once, by the rank shard_slots gives it; nothing else read while building
    assert streams == Counter({(f"process-{i % WORLD}", url): 1 for i, url in enumerate(urls)})
    ids = [image.id for image in alone.dataset.images]
    owner = {image_id: f"process-{(position // 2) % WORLD}" for position, image_id in enumerate(ids)}
    assert decoded and all(owner[image_id] == process for process, image_id in decoded)  # decoded by its shard's rank
    assert set(decoded.values()) == {1}
    for manifest in built:  # (a) the one-process manifest, in every rank
        assert manifest.to_csv() == alone.to_csv() and manifest.fingerprint() == alone.fingerprint()
        assert manifest.failures == alone.failures and manifest.decoded == alone.decoded
        assert manifest.dataset.parts == alone.dataset.parts == tuple((url, 2 if i < 7 else 1) for i, url in
                                                                      enumerate(urls))
    # every rank loads every item, those of the shards it did not stream included, as one process does
    streams.clear()
    if kind == "http-range":  # a server that honours ranges sends just the member: no shard is read whole
        monkeypatch.setattr(shards_module, "_keep", None)
    for item in alone.items:
        expected = alone.load(item)
        for manifest in built:
            assert all(np.array_equal(a, b) for a, b in zip(manifest.load(item), expected))
    per_shard = Counter()
    for key, count in streams.items():
        per_shard[key[1]] += count
    if kind == "plain":
        assert not streams  # a local plain shard is read in place by every rank
    elif kind == "http-range":
        assert all(len(key) == 3 for key in streams) and sum(per_shard.values()) > len(urls) * (WORLD - 1)
    else:  # read whole once by each rank that did not stream it, however many of its images that rank loads
        assert per_shard == Counter({url: WORLD - 1 for url in urls})


def test_a_damaged_shard_of_rank_1_stops_every_rank_with_the_one_process_line(tmp_path, http_root):
    pattern = _shards(tmp_path, "plain", http_root)
    damaged = tmp_path / "shards/shards-0004.tar"  # 4 % 3: rank 1's second shard
    damaged.write_bytes(damaged.read_bytes()[:1500])
    spec = RunSpec(dataset="shards", data_root=pattern, size=32)
    with pytest.raises(ShardError) as alone:
        build_manifest(spec, cache_root=tmp_path / "cache-alone", roots={})
    assert str(alone.value).startswith(f"{damaged}: ")
    assert _errors(spec, tmp_path) == [str(alone.value)] * WORLD


def test_an_id_in_two_ranks_shards_stops_every_rank_naming_both(tmp_path, http_root):
    from tests.test_shards import _png, _tar

    for s in range(5):  # shard 4 (rank 1) repeats an id of shard 2 (rank 2)
        names = [f"{s}-{k}.png" for k in range(2)] if s != 4 else ["4-0.png", "2-1.png"]
        (tmp_path / f"s-{s}.tar").write_bytes(_tar([(name, _png(10 * s + k)) for k, name in enumerate(names)]))
    spec = RunSpec(dataset="shards", data_root=str(tmp_path / "s-{0..4}.tar"), size=16)
    with pytest.raises(ShardError) as alone:
        build_manifest(spec, cache_root=tmp_path / "cache-alone", roots={})
    assert str(alone.value) == (f"{tmp_path}/s-4.tar: image '2-1.png' (sample '2-1') is also in {tmp_path}/s-2.tar; "
                                "ids must be unique across the shards")
    assert _errors(spec, tmp_path) == [str(alone.value)] * WORLD


def _errors(spec: RunSpec, tmp_path: Path) -> list[str]:
    """Each rank's error when the ranks build ``spec`` together (every rank must raise, none hang)."""
    processes = _Processes(WORLD)
    processes.barrier = threading.Barrier(WORLD, timeout=30)  # a rank left waiting breaks the barrier
    errors = [""] * WORLD

    def one(index):
        try:
            build_manifest(spec, cache_root=tmp_path / f"cache-{index}", roots={}, share=processes.share(index))
        except ShardError as error:
            errors[index] = str(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(WORLD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_a_member_of_a_plain_shard_is_read_by_a_seek_and_a_compressed_shard_is_kept_whole_once(tmp_path, monkeypatch):
    import bz2
    import io
    import sys
    import types

    from harness.data.shards import Member, read_member
    from tests.test_shards import _png, _tar

    blob = _tar([("a.png", _png(0)), ("b.png", _png(1))])
    blobs = {"memory://b/s.tar": blob, "memory://b/s.tar.bz2": bz2.compress(blob)}
    reads = []

    class Stream(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    monkeypatch.setitem(sys.modules, "fsspec", types.SimpleNamespace(
        open=lambda url, mode: types.SimpleNamespace(open=lambda: Stream(blobs[url]))))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {name: Member(name, info.offset_data, info.size, None) for name in ("a.png", "b.png")
                   for info in [tar.getmember(name)]}
    copy = tmp_path / "copy.tar"
    assert read_member("memory://b/s.tar", members["b.png"], "", copy) == _png(1)
    assert reads == [members["b.png"].size] and not copy.exists()  # one read, of the member, after a seek
    reads.clear()
    assert read_member("memory://b/s.tar.bz2", members["b.png"], "bz2", copy) == _png(1)
    assert copy.read_bytes() == blob and reads  # read whole once, kept uncompressed
    reads.clear()
    assert read_member("memory://b/s.tar.bz2", members["a.png"], "bz2", copy) == _png(0) and reads == []
    with pytest.raises(ShardError, match=r"memory://b/s\.tar\.bz2: cannot read b\.png \(OSError: Invalid data stream"):
        blobs["memory://b/s.tar.bz2"] = b"BZh9 not bzip2 data"
        read_member("memory://b/s.tar.bz2", members["b.png"], "bz2", tmp_path / "other.tar")


def test_loader_workers_asking_at_once_copy_a_compressed_shard_once(tmp_path, monkeypatch):
    """Two workers that both find no copy yet: one reads the stream whole, the other waits for its copy."""
    import bz2
    import io
    import sys
    import types

    from harness.data.shards import Member, read_member
    from tests.test_shards import _png, _tar

    blob = _tar([("a.png", _png(0)), ("b.png", _png(1))])
    both_opened, read_from = threading.Barrier(2, timeout=10), []

    class Stream(io.BytesIO):
        def read(self, size=-1):
            read_from.append(id(self))
            return super().read(size)

    def opened(url, mode):
        both_opened.wait()  # each has seen no copy and opened the shard before either copies it
        return types.SimpleNamespace(open=lambda: Stream(bz2.compress(blob)))

    monkeypatch.setitem(sys.modules, "fsspec", types.SimpleNamespace(open=opened))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        infos = [tar.getmember(name) for name in ("a.png", "b.png")]
        members = [Member(info.name, info.offset_data, info.size, None) for info in infos]
    copy, got = tmp_path / "copy.tar", {}
    def worker(member: Member) -> None:
        got[member.name] = read_member("memory://b/s.tar.bz2", member, "bz2", copy)

    workers = [threading.Thread(target=worker, args=(m,)) for m in members]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert got == {"a.png": _png(0), "b.png": _png(1)}
    assert len(set(read_from)) == 1 and copy.read_bytes() == blob  # one stream read, one copy
