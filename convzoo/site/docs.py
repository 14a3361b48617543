"""The existing docs on the site: the reproductions (``docs/repro``), performance, reliability and the optimizer
lab, with the pictures they show.

These files are data. Only pages named here (and the reproductions of registered claims) are taken; their
links are kept where they point at a page or picture on the site or at the web, and turned into plain text
otherwise (the site has no broken link); raw ``<script>``, ``<iframe>``, ``<object>`` and ``<embed>`` tags and
``javascript:`` links are defused, so nothing read from a file runs in the reader's browser.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from convzoo.site.write import safe_relative

# site page ← docs file (relative to the docs folder), in the navigation's order
PAGES = {
    "performance.md": ("Performance", "performance.md"),
    "reliability.md": ("Reliability", "reliability.md"),
    "lab.md": ("Optimizer lab", "lab.md"),
}
WIDE = {"repro/index.md"}  # pages whose tables need the width of the table of contents
PICTURES = (".png", ".gif", ".svg", ".jpg", ".jpeg")
MAX_PAGE_BYTES = 2 << 20
MAX_PICTURE_BYTES = 32 << 20
_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)((?:\s+\"[^\"\n]*\")?)\)")
_DANGEROUS = re.compile(r"<(/?)(script|iframe|object|embed)\b", re.IGNORECASE)


@dataclass
class DocsOnSite:
    """Pages (site path → Markdown) and pictures (site path → bytes) taken from the docs folder."""

    pages: dict[str, str] = field(default_factory=dict)
    pictures: dict[str, bytes] = field(default_factory=dict)
    nav: list[dict[str, object]] = field(default_factory=list)
    repro: list[str] = field(default_factory=list)  # claims with a page on the site
    missing: list[str] = field(default_factory=list)  # what the docs folder lacked


def _read(path: Path, cap: int) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    if path.stat().st_size > cap:
        raise ValueError(f"{path}: larger than {cap} bytes")
    return path.read_bytes()


def _fix(text: str, src_rel: str, site_rel: str, sources: dict[str, str], docs: Path, out: DocsOnSite) -> str:
    """Rewrite the links of one page (``src_rel`` in the docs folder, ``site_rel`` on the site)."""
    text = _DANGEROUS.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)
    src_dir, site_dir = posixpath.dirname(src_rel), posixpath.dirname(site_rel)

    def link(m: re.Match[str]) -> str:
        bang, label, target, title = m.groups()
        low = target.lower()
        if low.startswith("javascript:") or low.startswith("data:"):
            return label
        if low.startswith(("http://", "https://", "mailto:")) or target.startswith("#"):
            return m.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(src_dir, path))
        if resolved.startswith("../") or resolved.startswith("/"):
            return _plain(bang, label)
        if bang and resolved.lower().endswith(PICTURES):
            file = docs / resolved
            try:
                safe_relative(resolved)
                data = _read(file, MAX_PICTURE_BYTES)
            except (ValueError, OSError):
                return _plain(bang, label)
            out.pictures[resolved] = data
            sources.setdefault(resolved, resolved)
        if resolved not in sources:
            return _plain(bang, label)
        rel = posixpath.relpath(sources[resolved], site_dir or ".")
        return f"{bang}[{label}]({rel}{'#' + anchor if anchor else ''}{title})"

    return _LINK.sub(link, text)


def _strip_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            return text[end + 5 :]
    return text


def _plain(bang: str, label: str) -> str:
    return f"*{label}*" if bang and label else label


def _claim_pages(docs: Path, claim: str) -> list[tuple[str, str]]:
    """(title, docs path) of a claim's pages: ``repro/<claim>/report.md`` first, then the pages below it
    (one per budget, ``repro/<claim>/<budget>/report.md``); plain names only, no links."""
    folder = docs / "repro" / claim
    if folder.is_symlink() or not (folder / "report.md").is_file():
        return []
    found = [(claim, f"repro/{claim}/report.md")]
    for p in sorted(folder.rglob("*.md")):
        rel = p.relative_to(docs).as_posix()
        if p.is_symlink() or not p.is_file() or rel == found[0][1] or any(q.is_symlink() for q in p.parents):
            continue
        try:
            safe_relative(rel)
        except ValueError:
            continue
        inner = p.relative_to(folder)
        found.append((inner.parent.as_posix() if p.name == "report.md" else inner.as_posix(), rel))
    return found


def collect(docs: Path, claims: list[str]) -> DocsOnSite:
    """The docs pages the site shows, with their pictures, from ``docs`` (usually the repository's)."""
    out = DocsOnSite()
    sources: dict[str, str] = {}  # docs-relative file → site path
    wanted: list[tuple[str, str]] = []  # (docs file, site path)
    readme = docs / "repro" / "README.md"
    if readme.is_file():
        wanted.append(("repro/README.md", "repro/index.md"))
        repro_nav: list[object] = [{"All reproductions": "repro/index.md"}]
        for claim in claims:
            entry = _claim_pages(docs, safe_relative(claim))
            if entry:
                wanted += [(rel, rel) for _, rel in entry]
                out.repro.append(claim)
                repro_nav.append(
                    {claim: entry[0][1]} if len(entry) == 1 else {claim: [{t: r} for t, r in entry]}
                )
        out.nav.append({"Reproductions": repro_nav})
    else:
        out.missing.append(str(readme))
    for site_rel, (title, rel) in PAGES.items():
        if (docs / rel).is_file():
            wanted.append((rel, site_rel))
            out.nav.append({title: site_rel})
        else:
            out.missing.append(str(docs / rel))
    sources.update(dict(wanted))
    for rel, site_rel in wanted:
        text = _fix(_read(docs / rel, MAX_PAGE_BYTES).decode("utf-8"), rel, site_rel, sources, docs, out)
        # wide tables get the page's width; a page's own front matter is not taken (it would be data configuring
        # the theme)
        out.pages[site_rel] = ("---\nhide: [toc]\n---\n\n" if site_rel in WIDE else "") + _strip_front_matter(
            text
        )
    return out
