"""The HTML report: ``harness report --format html --output DIR``.

data (run folders) → viewmodel (plain dicts) → template (jinja2, one index.html); images writes
the image browser's pictures beside it. :func:`write_report` ties them together.
"""
from __future__ import annotations

from harness.reports.html.build import write_report

__all__ = ["write_report"]
