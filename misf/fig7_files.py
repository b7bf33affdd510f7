"""Fig. 7 results as files, readable without torch (reports read them): ``fig7_values.csv`` and
``fig7.json``, the frame's attrs (method, level, untrained, definition) and the run whose items
were used, which a CSV cannot hold."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def write_values(df: pd.DataFrame, folder: str | Path, title: str, run: str | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "fig7_values.csv", index=False)
    (folder / "fig7.json").write_text(json.dumps({**df.attrs, "run": run, "title": title}, indent=2, default=str))
    return folder


def read_fig7(folder: str | Path) -> pd.DataFrame:
    """The values written by :func:`write_values`, with their attrs (none for older folders)."""
    folder = Path(folder)
    df = pd.read_csv(folder / "fig7_values.csv", dtype={"item_id": str, "bucket": str})
    try:
        df.attrs.update(json.loads((folder / "fig7.json").read_text()))
    except (OSError, ValueError):
        pass
    return df
