"""Fuzzing the pack reader (issue 21, finding 2): random bit flips, truncations and header
mutations over a real pack. Whatever the damage, reading never raises and never serves a value
other than the one written; whatever a read cannot serve, ``cache verify`` reports as damaged."""
import json
import shutil
import zlib

import numpy as np

from harness.store import cache_admin
from harness.store.cache import HEAD, MAGIC, Cache, header_problem, output_key, pack_records

SHAPE = (3, 16, 16)


def _written(root):
    """A real pack: holes-only and full outputs, metrics, features; what each key must read as."""
    rng = np.random.default_rng(0)
    cache, expected = Cache(root), {}
    for i in range(3):
        key = output_key("f" * 32, f"img{i}", f"mask{i}", 16)
        output = rng.random(SHAPE, dtype=np.float32)
        holes = np.zeros(SHAPE[1:], bool)
        holes[: 4 + i] = True
        cache.put_output(key, output, holes if i != 1 else None)
        expected[("output", key)] = (np.where(holes, output, 0) if i != 1 else output, holes)
        cache.put_metrics(key, "paper", {"PSNR": 20.0 + i, "SSIM": 0.5})
        expected[("metrics", key)] = {"PSNR": 20.0 + i, "SSIM": 0.5}
        cache.put_features("probe", key, rng.random(8, dtype=np.float32))
        expected[("features", key)] = cache.read_features("probe", key)[0]
    cache.close()
    return expected


def _served(root, expected) -> tuple[int, int]:
    """(values served, values missing) of a damaged cache; fails on any wrong value."""
    cache, served, missing = Cache(root), 0, 0
    for (kind, key), want in expected.items():
        if kind == "output":
            got, _ = cache.read_output(key, SHAPE, want[1])
            ok = got is not None and np.array_equal(got, want[0])
        elif kind == "metrics":
            got, _ = cache.read_metrics(key, "paper")
            ok = got == want
        else:
            got, _ = cache.read_features("probe", key)
            ok = got is not None and np.array_equal(got, want)
        absent = got is None or (isinstance(got, dict) and not got)
        assert absent or ok, f"{kind} {key} served a wrong value"
        served, missing = served + ok, missing + (not ok)
    cache.unusable(key[:16])  # the run's count of skipped records never raises either
    return served, missing


def _with_crc(header: object, payload: bytes) -> bytes:
    """A record whose CRC matches its (mutated) header: only validation can catch it."""
    data = json.dumps(header).encode()
    return HEAD.pack(MAGIC, len(data), len(payload), zlib.crc32(payload, zlib.crc32(data))) + data + payload


def _header_mutations(header: dict) -> list[object]:
    mutations: list[object] = [list(header.items()), [header], "x", 3, None, {}]
    for name in header:
        mutations.append({k: v for k, v in header.items() if k != name})  # a key missing
        mutations.append({(k + "x" if k == name else k): v for k, v in header.items()})  # misspelt
        for value in ("3", None, [], {}, -1, 0, True, 1e9, [3, 2, 2], [3, 16]):
            mutations.append({**header, name: value})
    return mutations


def _damaged_versions(original: bytes, rng) -> list[tuple[bytes, bool]]:
    """One random bit flipped (400), cuts (random and around each record's start), and each
    record's header replaced by a mutation, with a CRC that matches it and with the old CRC;
    each with whether the damage leaves evidence (a cut at a record boundary and a well-formed
    forged header with a matching CRC leave none)."""
    cases: list[tuple[bytes, bool]] = []
    for _ in range(400):
        flipped = bytearray(original)
        flipped[int(rng.integers(len(flipped)))] ^= 1 << int(rng.integers(8))
        cases.append((bytes(flipped), True))
    offset, records = 0, []
    while offset < len(original):
        _, header_length, payload_length, _ = HEAD.unpack_from(original, offset)
        records.append((offset, header_length, payload_length))
        offset += HEAD.size + header_length + payload_length
    cuts = {int(c) for c in rng.integers(0, len(original), 100)} | {o + d for o, _, _ in records for d in (0, 1, 20)}
    boundaries = {o for o, _, _ in records}
    cases += [(original[:cut], cut not in boundaries) for cut in sorted(cuts)]
    for offset, header_length, payload_length in records:
        start = offset + HEAD.size
        header = json.loads(original[start : start + header_length])
        payload = original[start + header_length : start + header_length + payload_length]
        end = start + header_length + payload_length
        for mutation in _header_mutations(header):
            good = _with_crc(mutation, payload)
            stale = good[: HEAD.size - 4] + original[start - 4 : start] + good[HEAD.size :]
            cases += [(original[:offset] + good + original[end:], header_problem(mutation) is not None),
                      (original[:offset] + stale + original[end:], True)]
    return cases


def test_pack_reader_survives_bit_flips_truncations_and_header_mutations(tmp_path, capsys):
    expected = _written(tmp_path / "clean")
    packs = sorted((tmp_path / "clean" / "packs").glob("*/*.pack"))
    rng = np.random.default_rng(1)
    cases, missed_unreported = 0, []
    for pack in packs:  # the method's pack (outputs, metrics) and the extractor's (features)
        root = tmp_path / f"fuzzed-{pack.parent.name}"
        shutil.copytree(tmp_path / "clean", root)
        target = root / "packs" / pack.parent.name / pack.name
        for damaged_bytes, evidence in _damaged_versions(pack.read_bytes(), rng):
            cases += 1
            target.write_bytes(damaged_bytes)
            served, missing = _served(root, expected)
            if evidence and missing and not cache_admin.damaged(Cache(root)):
                missed_unreported.append(cases)
    with capsys.disabled():
        print(f"\npack fuzz: {cases} damaged packs; none raised, none served a wrong value")
    assert cases > 1500
    assert not missed_unreported, f"values lost without verify reporting damage in cases {missed_unreported[:10]}"


def test_a_folder_named_like_a_pack_is_no_pack(tmp_path):
    expected = _written(tmp_path)
    next((tmp_path / "packs").glob("*/*.pack")).with_name("odd.pack").mkdir()
    assert _served(tmp_path, expected) == (len(expected), 0)
    assert cache_admin.damaged(Cache(tmp_path)) == []


def test_an_invalid_header_is_counted_in_the_run_and_pointed_to_prune(tmp_path):
    _written(tmp_path)
    pack = next((tmp_path / "packs").glob("*/*.pack"))
    record = _with_crc([next(pack_records(pack)).header], b"")
    pack.write_bytes(pack.read_bytes() + record)
    notes = Cache(tmp_path).unusable(pack.parent.name)
    assert len(notes) == 1 and "prune --damaged" in notes[0] and "JSON list" in notes[0]


def test_verify_reports_a_cut_pack_and_a_header_that_lies_about_its_count(tmp_path):
    _written(tmp_path)
    pack = next(p for p in (tmp_path / "packs").glob("*/*.pack") if not p.parent.name.startswith("feat-"))
    assert cache_admin.damaged(Cache(tmp_path)) == []
    record = next(r for r in pack_records(pack) if r.header.get("holes") is False)  # a full prediction
    lying = {**record.header, "count": record.header["count"] + 3}  # a valid CRC over a header that lies
    pack.write_bytes(pack.read_bytes() + _with_crc(lying, b"x"))
    problems = [why for _, why in cache_admin.damaged(Cache(tmp_path))]
    assert len(problems) == 1 and "says" in problems[0]
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])  # cut in half
    problems = [why for _, why in cache_admin.damaged(Cache(tmp_path))]
    assert len(problems) == 1 and "partial record" in problems[0]
