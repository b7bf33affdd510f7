"""Output styles: one module per format, each rendering any :class:`harness.table.Table`.

A text format registers itself with ``@register_format(name)`` (harness.table.FORMATS); adding
one is adding a module here. ``html`` turns tables into the HTML report's view model.
"""
