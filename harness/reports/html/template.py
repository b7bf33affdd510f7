"""The page itself: the view model rendered with jinja2 into one index.html, style, script and
data inline, so that the file works from file:// and wherever its folder is copied."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def render_page(context: dict[str, Any], data: dict[str, Any]) -> str:
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    page = environment.get_template("report.html.j2")
    return page.render(**context, css=(HERE / "static" / "report.css").read_text(),
                       js=(HERE / "static" / "report.js").read_text(), data_json=_json_for_script(data))
