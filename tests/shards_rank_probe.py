"""A torchrun rank of `harness` that logs which shards it opens (tests/test_shards_gloo.py): every
stream of a shard from its start, and every read of one member of it, one line each in
``$SHARD_OPEN_LOG/rank<RANK>.log``; then the command line's exit code in ``rank<RANK>.exit``."""
import os
import sys
from pathlib import Path

import harness.data.shards as shards
from harness.cli import main

LOG = Path(os.environ["SHARD_OPEN_LOG"])
RANK = os.environ["RANK"]
_open_shard = shards.open_shard


def _logged(url: str, span: tuple[int, int] | None = None):
    with open(LOG / f"rank{RANK}.log", "a") as log:
        log.write(f"{'member' if span else 'stream'} {url}\n")
    return _open_shard(url, span)


if __name__ == "__main__":
    shards.open_shard = _logged
    code = main(sys.argv[1:])
    (LOG / f"rank{RANK}.exit").write_text(str(code))
    sys.exit(code)
