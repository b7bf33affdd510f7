"""Text formats of ``harness report``: one module per format, named as the format, whose
``render(tables) -> str`` writes any :class:`harness.reports.table.Table`. Adding a format is
adding a module here: :func:`register` names each module as a lazy target, importing none.
"""
from __future__ import annotations

import pkgutil

from harness.registry import Registry


def register(formats: Registry) -> None:
    """Add every module of this package to ``formats`` (REPORT_FORMATS) under its name."""
    for module in pkgutil.iter_modules(__path__):
        formats.add(module.name, f"{__name__}.{module.name}:render")
