"""The repository stands alone: every file and docs section the code cites exists in it.

Docstrings and comments cite the facts they rely on as ``docs/<file>.md §N`` (or ``§N.M``);
this test resolves each such citation to a file under ``docs/`` and a heading numbered N in it,
resolves every cited path of this repository (``harness/x.py``, ``benchmarks/y.py``, ...), and
fails on citations of reference documents that are not part of the repository (the spec files
the facts were first gathered in).
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve()
SUFFIXES = {".py", ".md", ".toml", ".html", ".j2", ".txt", ".cfg"}
SKIP_DIRS = {"__pycache__", "build", "dist", "node_modules", "runs", "report", "plots"}

#: ``docs/misf.md §2-§4, §9``: the file, then the section run after it.
DOCS_CITATION = re.compile(
    r"docs/([\w./-]+?\.md)((?:\s*(?:-|–|,|and)?\s*§\s*\d+(?:\.\d+)?)*)"
)
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)?)")
#: A path inside this repository (not preceded by an owner/repo or another path segment).
REPO_PATH = re.compile(r"(?<![\w/.-])((?:harness|misf|baselines|masks|benchmarks|tests|docs|results)/[\w/.-]*\w\.(?:py|md|json|csv))")
#: Reference documents kept outside the repository, which users do not have.
OUTSIDE = re.compile(
    r"(?<!docs/)\b(?:misf|baselines|metrics-and-masks|environment|modern-baselines|modern-protocols)\.md\b"
    r"|shared/specs|shared/paper"
)


def _files() -> list[Path]:
    found = []
    for top in sorted(ROOT.iterdir()):
        if top.name.startswith(".") and top.name != ".ci" or top.name in SKIP_DIRS or top.name.endswith(".egg-info"):
            continue
        if top.is_file():
            found.append(top)
            continue
        if (top / "pyvenv.cfg").exists():
            continue
        found += [p for p in top.rglob("*") if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]
    return [p for p in found if (p.suffix in SUFFIXES or p.parent.name == ".ci") and p.resolve() != SELF]


def _where(path: Path, text: str, index: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, index) + 1}"


def _has_section(doc: Path, number: str) -> bool:
    heading = re.compile(rf"^#+\s+{re.escape(number)}\.?\s", re.MULTILINE)
    return bool(heading.search(doc.read_text(encoding="utf-8")))


def test_docs_citations_resolve_to_a_file_and_a_section():
    bad, seen = [], 0
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in DOCS_CITATION.finditer(text):
            seen += 1
            doc = ROOT / "docs" / match.group(1)
            if not doc.is_file():
                bad.append(f"{_where(path, text, match.start())}: docs/{match.group(1)} does not exist")
                continue
            for number in SECTION.findall(match.group(2)):
                if not _has_section(doc, number):
                    bad.append(f"{_where(path, text, match.start())}: docs/{match.group(1)} has no section {number}")
    assert seen > 20, f"only {seen} docs citations found: is the scan looking at the code?"
    assert not bad, "\n".join(bad)


def test_cited_repository_paths_exist():
    bad = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in REPO_PATH.finditer(text):
            if not (ROOT / match.group(1)).exists():
                bad.append(f"{_where(path, text, match.start())}: {match.group(1)} does not exist")
    assert not bad, "\n".join(bad)


def test_no_citation_of_documents_outside_the_repository():
    bad = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        bad += [f"{_where(path, text, m.start())}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not bad, "cites files users do not have; state the fact in docs/ and cite that:\n" + "\n".join(bad)


def test_the_scan_finds_what_it_looks_for():
    """The patterns catch the forms they must catch, so a passing scan means something."""
    assert SECTION.findall(DOCS_CITATION.search("(docs/misf.md §2-§4, §9).").group(2)) == ["2", "4", "9"]
    assert DOCS_CITATION.search("see docs/metrics.md §7.").group(1) == "metrics.md"
    assert OUTSIDE.search("(misf.md §13.5)") and OUTSIDE.search("specs/baselines.md §3")
    assert not OUTSIDE.search("docs/baselines.md §3")
    assert REPO_PATH.search("``benchmarks/precision_effects.py`` measures").group(1) == "benchmarks/precision_effects.py"
    assert not REPO_PATH.search("tsingqguo/misf/src/misf.py")
