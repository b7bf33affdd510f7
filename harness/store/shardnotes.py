"""Notes that ``--shard`` parts leave in the runs folder, so that ``report`` can say what is
missing: shards write their parts, not the records (``harness reduce`` does), and a report
after the shards alone said only "No records found."."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.store.atomic import atomic_write_text

FOLDER = ".shards"


def note_shard(root: Path, run_name: str, index: int, count: int, methods: list[str]) -> None:
    """Say that shard ``index``/``count`` of ``run_name`` is done (its results are in the cache)."""
    note = {"run": run_name, "shard": f"{index}/{count}", "methods": methods}
    atomic_write_text(Path(root) / FOLDER / run_name / f"{index}-of-{count}.json", json.dumps(note))


def records_written(root: Path, run_name: str) -> None:
    """The run's records exist: its shards' notes have served."""
    folder = Path(root) / FOLDER
    shutil.rmtree(folder / run_name, ignore_errors=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def unwritten(root: Path) -> list[str]:
    """One line per run whose shards are done but whose records nobody wrote yet."""
    lines = []
    for folder in sorted((Path(root) / FOLDER).glob("*")):
        shards = sorted(p.stem.replace("-of-", "/") for p in folder.glob("*.json"))
        run_dir = Path(root) / folder.name
        if shards and not any((run_dir / "methods").glob("*/records.csv")):
            lines.append(f"run {folder.name}: shard(s) {', '.join(shards)} done and cached, no records yet: "
                         f"when every shard is done, run `harness reduce --run {run_dir}` to write them")
    return lines
