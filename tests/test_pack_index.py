"""The cache's persistent index: an open reads no pack it already indexed, and whatever happened
to the packs meanwhile (a killed writer's unindexed records, a rewrite, a removal, a damaged
index file) the reads are those of a full scan."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.store import cache as cache_module
from harness.store.cache import Cache, PackWriter, output_key
from harness.store.pack_index import INDEX_NAME


def _key(i: int) -> str:
    return output_key("f" * 32, f"img{i}", f"mask{i}", 16)


def _filled(root, n=5) -> dict[str, dict[str, float]]:
    cache, written = Cache(root), {}
    for i in range(n):
        written[_key(i)] = {"PSNR": 20.0 + i}
        cache.put_metrics(_key(i), "paper", written[_key(i)])
    cache.close()
    return written


def _scans(monkeypatch) -> list[tuple[str, int]]:
    """(pack name, start offset) of every scan of a pack from now on."""
    seen: list[tuple[str, int]] = []
    original = cache_module.pack_records

    def spy(path, start=0):
        seen.append((path.name, start))
        return original(path, start)

    monkeypatch.setattr(cache_module, "pack_records", spy)
    return seen


def _reads(root, keys) -> dict[str, dict[str, float]]:
    cache = Cache(root)
    return {k: cache.get_metrics(k, "paper") for k in keys}


def test_an_indexed_folder_is_opened_without_reading_its_packs(tmp_path, monkeypatch):
    written = _filled(tmp_path)
    scans = _scans(monkeypatch)
    assert _reads(tmp_path, written) == written
    assert scans == []
    assert _reads(tmp_path, [_key(99)]) == {_key(99): {}}


def test_records_appended_without_the_index_are_found_by_scanning_only_the_new_bytes(tmp_path, monkeypatch):
    written = _filled(tmp_path)
    group = tmp_path / "packs" / _key(0)[:16]
    pack = next(group.glob("*.pack"))
    indexed = pack.stat().st_size
    writer = PackWriter(group)  # a writer killed between its append and its index update
    writer.append({"kind": "metrics", "key": _key(7), "profile": "paper"}, b'{"PSNR": 27.0}')
    writer.append({"kind": "metrics", "key": _key(0), "profile": "paper"}, b'{"PSNR": 99.0}')  # newer than the indexed one
    writer.close()
    scans = _scans(monkeypatch)
    assert _reads(tmp_path, [*written, _key(7)]) == {**written, _key(0): {"PSNR": 99.0}, _key(7): {"PSNR": 27.0}}
    assert sorted(scans) == sorted([(writer.path.name, 0)])  # the indexed pack is not read at all
    scans.clear()
    assert _reads(tmp_path, [_key(7)]) == {_key(7): {"PSNR": 27.0}}
    assert scans == []  # indexed by the first reader
    assert pack.stat().st_size == indexed


def test_a_pack_cut_rewritten_or_removed_is_indexed_again(tmp_path):
    written = _filled(tmp_path)
    group = tmp_path / "packs" / _key(0)[:16]
    pack = next(group.glob("*.pack"))
    data = pack.read_bytes()
    records = list(cache_module.pack_records(pack))
    pack.write_bytes(data[: records[2].offset])  # cut after two records
    assert _reads(tmp_path, written) == {k: (v if i < 2 else {}) for i, (k, v) in enumerate(written.items())}
    # rewritten longer, with other bytes at the old indexed length: indexed again from the start
    pack.write_bytes(b"\0" * 7 + data)
    assert _reads(tmp_path, written) == {k: {} for k in written}
    pack.unlink()
    cache = Cache(tmp_path)
    assert cache.get_metrics(_key(0), "paper") == {} and cache._group_index(_key(0)[:16]).lookup("metrics", _key(0), "paper") is None


def test_a_damaged_index_file_is_rebuilt_from_the_packs(tmp_path):
    written = _filled(tmp_path)
    index = tmp_path / "packs" / _key(0)[:16] / INDEX_NAME
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)
    index.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 8)
    assert _reads(tmp_path, written) == written
    assert Cache(tmp_path)._group_index(_key(0)[:16]).persistent


def test_the_newest_record_wins_across_writers_and_features_round_trip(tmp_path):
    first, second = Cache(tmp_path), Cache(tmp_path)
    first.put_metrics(_key(0), "paper", {"PSNR": 1.0})
    second.put_metrics(_key(0), "paper", {"PSNR": 2.0}, merge=False)  # a later pack
    first.put_features("probe", _key(0), np.arange(4, dtype=np.float32))
    first.close(), second.close()
    cache = Cache(tmp_path)
    assert cache.get_metrics(_key(0), "paper") == {"PSNR": 2.0}
    assert np.array_equal(cache.read_features("probe", _key(0))[0], np.arange(4, dtype=np.float32))


def test_an_index_file_that_fails_mid_run_gives_way_to_one_in_memory(tmp_path):
    written = _filled(tmp_path)
    cache = Cache(tmp_path)
    index = cache._group_index(_key(0)[:16])
    assert index.persistent
    index.db.close()  # as if the filesystem lost it: every statement now fails
    assert {k: cache.get_metrics(k, "paper") for k in written} == written
    cache.put_metrics(_key(9), "paper", {"PSNR": 9.0})
    assert not index.persistent and cache.get_metrics(_key(9), "paper") == {"PSNR": 9.0}


WRITER = """
import sys
from harness.store.cache import Cache, output_key
rank, cache = int(sys.argv[1]), Cache(sys.argv[2])
for i in range(100):
    cache.put_metrics(output_key("f" * 32, f"{rank}-{i}", "m", 16), "paper", {"PSNR": float(rank * 1000 + i)})
    if i % 25 == 0:
        cache.refresh()
cache.close()
"""


def test_processes_writing_one_folder_at_once_leave_an_index_that_needs_no_scan(tmp_path, monkeypatch):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(rank), str(tmp_path)], env=env) for rank in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 4
    scans = _scans(monkeypatch)
    cache = Cache(tmp_path)
    assert all(cache.get_metrics(output_key("f" * 32, f"{rank}-{i}", "m", 16), "paper") == {"PSNR": rank * 1000.0 + i}
               for rank in range(4) for i in range(100))
    assert scans == [] and len(list((tmp_path / "packs").glob("*/*.pack"))) == 4
