"""LaTeX text escaping shared by the table renderers."""

_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}", "\\": r"\textbackslash{}"}
_SPECIAL |= {"Δ": r"$\Delta$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "−": "$-$"}  # not in the text fonts


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(c, c) for c in text)
