"""LaTeX text escaping shared by the table renderers."""

_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}", "\\": r"\textbackslash{}"}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(c, c) for c in text)
