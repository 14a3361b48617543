"""``convzoo site -o DIR``: the zoo as a static website, built with MkDocs and its Material theme.

The Markdown sources are generated into a temporary folder from the registry and the CLI's own functions
(:mod:`convzoo.site.pages`), the existing docs are added (:mod:`convzoo.site.docs`), MkDocs renders them in
strict mode (a broken link or a missing page fails the build), and the result is copied into ``DIR`` through
the site's one writer (:mod:`convzoo.site.write`). The MkDocs configuration is written here, in code: nothing
read from a file names a plugin, an extension or a script.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from convzoo.site.write import publish, write_file
from convzoo.trust_write import temp_writer

ASSETS = ("convzoo.css", "convzoo.js")
NOT_INSTALLED = (
    "`convzoo site` needs MkDocs and its Material theme: pip install 'convzoo[site]' "
    "(or: pip install mkdocs mkdocs-material)"
)


@dataclass
class SiteReport:
    """What a build made: the output folder, its pages and files, how long each part took."""

    out: Path
    models: list[str]
    pages: int
    files: int
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    diagrams_cached: int = 0
    diagrams_drawn: int = 0


def default_docs_dir() -> Path:
    """The repository's ``docs`` beside the package (an editable install), else ``./docs``."""
    here = Path(__file__).resolve().parents[2] / "docs"
    return here if here.is_dir() else Path("docs")


def default_cache_dir() -> Path:
    from convzoo.hub.download import default_cache_dir as hub_cache

    return hub_cache() / "site-diagrams"


def _names(only: list[str] | None) -> list[str]:
    from convzoo.registry import list_models, model_info

    if not only:
        return list_models()
    for name in only:
        model_info(name)  # an unknown name fails here, with the closest names
    return sorted(dict.fromkeys(only))


def mkdocs_config(src: Path, site: Path, nav: list[object]) -> dict[str, object]:
    """The MkDocs configuration, as data written here (JSON is YAML)."""
    return {
        "site_name": "convzoo",
        "site_description": "The classic convolutional networks, exact to their papers: one page per network.",
        "docs_dir": str(src),
        "site_dir": str(site),
        "use_directory_urls": False,  # pages are NAME.html: the site also opens from the file system (search
        # then needs a web server: the offline plugin would load a script from another host)
        "strict": True,
        "theme": {
            "name": "material",
            "font": False,  # system fonts: the site loads nothing from another host
            "features": [
                "navigation.tabs",
                "toc.integrate",  # the table of contents in the left column: the page gets the right one's width
                "navigation.top",
                "navigation.footer",
                "search.highlight",
                "content.code.copy",
                "content.tabs.link",
            ],
            "palette": [
                {
                    "media": "(prefers-color-scheme: light)",
                    "scheme": "default",
                    "primary": "indigo",
                    "toggle": {"icon": "material/brightness-7", "name": "Switch to dark mode"},
                },
                {
                    "media": "(prefers-color-scheme: dark)",
                    "scheme": "slate",
                    "primary": "indigo",
                    "toggle": {"icon": "material/brightness-4", "name": "Switch to light mode"},
                },
            ],
        },
        "plugins": ["search"],
        "markdown_extensions": [
            "tables",
            "attr_list",
            "md_in_html",
            "admonition",
            {"toc": {"permalink": True}},
            "pymdownx.details",
            "pymdownx.superfences",
            {"pymdownx.tabbed": {"alternate_style": True}},
        ],
        "extra_css": ["assets/convzoo.css"],
        "extra_javascript": ["assets/convzoo.js"],
        "validation": {
            "omitted_files": "warn",
            "absolute_links": "warn",
            "unrecognized_links": "warn",
            "anchors": "info",  # a docs page's anchor may be slugged differently; pages themselves must exist
        },
        "nav": nav,
    }


def _mkdocs_build(config_file: Path) -> None:
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort, ConfigurationError
    except ImportError:
        raise FileNotFoundError(NOT_INSTALLED) from None
    log = logging.getLogger("mkdocs")
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = _Collect()
    log.addHandler(handler)
    level, log.level = log.level, logging.WARNING  # mkdocs's INFO chatter stays quiet
    try:
        build(load_config(config_file=str(config_file)))
    except (Abort, ConfigurationError) as e:
        detail = "; ".join(messages[:5]) or str(e)
        raise RuntimeError(f"MkDocs could not build the site: {detail}") from None
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@temp_writer
def _save_png(fig: Any, path: Path) -> None:
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")  # as `convzoo chart` saves it


def _charts(names: list[str], repro_dir: Path, folder: Path) -> dict[str, tuple[str, list[Any], str]]:
    """``convzoo chart bubbles`` and ``cifar`` for these networks, drawn into ``folder``: kind → (file name, the
    points drawn, alt text). A kind none of them has a published figure for is left out."""
    import matplotlib.pyplot as plt

    from convzoo.viz.chart import figure

    kinds = (
        ("bubbles", "ImageNet top-1 accuracy against multiply-adds, bubbles sized by parameters", {}),
        (
            "cifar",
            "CIFAR-10 test error against parameters",
            {"repro_dir": repro_dir} if repro_dir.is_dir() else {},
        ),
    )
    out = {}
    for kind, alt, extra in kinds:
        try:
            drawn = figure(kind, models=names, **extra)
        except ValueError:  # no network here has a published figure of this kind
            continue
        try:
            write_file(folder / f"{kind}.png", functools.partial(_save_png, drawn.fig))
        finally:
            plt.close(drawn.fig)
        out[kind] = (f"{kind}.png", list(drawn.points), alt)
    return out


def _repro_uses(docs_dir: Path, on_site: list[str]) -> dict[str, list[Any]]:
    """model → the trained reproductions whose arms build it, with each published budget's verdict (read by
    :func:`convzoo.repro.docs.read_results`, the reader ``convzoo repro docs`` uses)."""
    from convzoo.repro.docs import read_results
    from convzoo.repro.registry import claims
    from convzoo.site.pages import ReproUse

    uses: dict[str, list[Any]] = {}
    for c in claims():
        if c.kind != "trained":
            continue
        verdicts = []
        for budget in c.budgets:
            r = read_results(docs_dir / "repro" / c.id / budget / "results.json", c)
            if r is not None:
                verdicts.append(f"{budget}: {r.get('verdict')}")
        for model in dict.fromkeys(a.model for a in c.arms):
            arms = tuple(a.title for a in c.arms if a.model == model)
            uses.setdefault(model, []).append(
                ReproUse(c.id, c.says, arms, "; ".join(verdicts) or None, c.id in on_site)
            )
    return uses


@dataclass
class _Tables:
    """What every page is made from: the layer tables, paper tables and checks, and the charts' points."""

    sums: dict[str, Any]
    papers: dict[str, Any]
    checks: dict[str, str]
    charts: dict[str, tuple[str, list[Any], str]]
    top1: dict[str, Any]
    cifar: dict[str, Any]


def _tables(names: list[str], docs_dir: Path, src: Path) -> _Tables:
    from convzoo.inspect.paper_check import check_model, format_checks
    from convzoo.inspect.paper_tables import PAPER_TABLES
    from convzoo.inspect.summary import summary

    charts = _charts(names, docs_dir / "repro", src / "charts")  # their points: the accuracies shown
    return _Tables(
        sums={n: summary(n, depth=1) for n in names},
        papers={n: summary(n, depth=1, paper=True) for n in names if n in PAPER_TABLES},
        checks={n: format_checks([check_model(n)], "markdown") for n in names},
        charts=charts,
        top1={p.name: p for p in charts["bubbles"][1]} if "bubbles" in charts else {},
        cifar={p.name: p for p in charts["cifar"][1]} if "cifar" in charts else {},
    )


def _model_pages(
    src: Path, names: list[str], t: _Tables, drawn: dict[str, Any], diagram_note: str, uses: dict[str, list[Any]]
) -> dict[str, list[str]]:
    """Write each network's page (and its diagram); return the networks by family, for the navigation."""
    from convzoo.hub import weight_sources
    from convzoo.hub.sources import format_weights_table
    from convzoo.registry import list_models, model_info
    from convzoo.site import pages
    from convzoo.train.recipes import paper_recipe

    families: dict[str, list[str]] = {}
    built = set(names)
    for n in names:
        info = model_info(n)
        weights = [w for w in weight_sources(n) if w.url]
        page = pages.ModelPage(
            info=info,
            summary=t.sums[n],
            paper=t.papers.get(n),
            checks=t.checks[n],
            weights=weights,
            weights_table=format_weights_table(weights, markdown=True) if weights else None,
            repros=uses.get(n, []),
            diagram=drawn.get(n),
            diagram_note=diagram_note,
            family=list_models(family=info.family),
            built=built,
            top1=t.top1.get(n),
            cifar=t.cifar.get(n),
            train_recipe=paper_recipe(n),
        )
        write_file(src / pages.page_path(n), pages.model_page(page))
        families.setdefault(info.family, []).append(n)
        if n in drawn:
            write_file(src / "diagrams" / f"{n}.svg", drawn[n].svg)
    return families


def _site_pages(src: Path, names: list[str], t: _Tables, docs_part: Any, families: dict[str, list[str]]) -> list:
    """Write the home page, the docs' pages and pictures and the assets; return the navigation."""
    import convzoo
    from convzoo.registry import model_info
    from convzoo.site import pages

    rows = [
        pages.HomeRow(n, model_info(n).family, model_info(n).paper.year, t.sums[n].total_params,
                      t.sums[n].total_macs, t.top1.get(n), t.cifar.get(n), True)
        for n in names
    ]  # fmt: skip
    chart_files = [(f"charts/{file}", alt) for file, _, alt in t.charts.values()]
    write_file(src / "index.md", pages.home_page(rows, chart_files, convzoo.__version__))
    for rel, text in docs_part.pages.items():
        write_file(src / rel, text)
    for rel, data in docs_part.pictures.items():
        write_file(src / rel, data)
    for asset in ASSETS:
        write_file(src / "assets" / asset, resources.files("convzoo.site").joinpath("assets", asset).read_bytes())
    networks = [{fam: [{n: pages.page_path(n)} for n in members]} for fam, members in families.items()]
    return [{"Home": "index.md"}, {"Networks": networks}, *docs_part.nav]


def build_site(
    out: str | os.PathLike[str] = "site",
    *,
    only: list[str] | None = None,
    docs: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
) -> SiteReport:
    """Build the site into ``out``: every registered network (or those in ``only``), the home page with its
    chart and table, the reproductions, performance, reliability and optimizer-lab pages.

    ``docs``: the docs folder to take pages from (default: the repository's); ``cache``: where Graphviz's
    layouts are kept (default ``~/.cache/convzoo/site-diagrams``); ``force``: replace files in ``out`` that
    convzoo did not write; ``jobs``: parallel ``dot`` processes (default: the number of cores).
    """
    from convzoo.repro.registry import claims
    from convzoo.site import diagrams
    from convzoo.site import docs as site_docs

    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        raise FileNotFoundError(NOT_INSTALLED) from None

    out = Path(out)
    docs_dir = Path(docs) if docs is not None else default_docs_dir()
    cache_dir = Path(cache) if cache is not None else default_cache_dir()
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    names = _names(only)
    notes: list[str] = []

    with tempfile.TemporaryDirectory(prefix="convzoo-site-") as tmp_name:
        tmp = Path(tmp_name)
        src, staging = tmp / "docs", tmp / "site"

        t = time.perf_counter()
        tables = _tables(names, docs_dir, src)
        seconds["tables"] = time.perf_counter() - t

        t = time.perf_counter()
        drawn = diagrams.draw_all(names, cache_dir, jobs)
        diagram_note = ""
        if not drawn and names:
            from convzoo.viz.draw import DOT_ADVICE

            diagram_note = f"No diagram: {DOT_ADVICE}."
            notes.append(diagram_note)
        seconds["diagrams"] = time.perf_counter() - t

        t = time.perf_counter()
        docs_part = site_docs.collect(docs_dir, [c.id for c in claims()])
        notes += [f"not on the site (missing): {m}" for m in docs_part.missing]
        families = _model_pages(src, names, tables, drawn, diagram_note, _repro_uses(docs_dir, docs_part.repro))
        nav = _site_pages(src, names, tables, docs_part, families)
        config_file = tmp / "mkdocs.yml"
        write_file(config_file, json.dumps(mkdocs_config(src, staging, nav), indent=1))
        seconds["pages"] = time.perf_counter() - t

        t = time.perf_counter()
        _mkdocs_build(config_file)
        seconds["mkdocs"] = time.perf_counter() - t
        t = time.perf_counter()
        files = publish(staging, out, force=force)
        seconds["write"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return SiteReport(
        out=out,
        models=names,
        pages=sum(f.endswith(".html") for f in files),
        files=len(files),
        seconds=seconds,
        notes=notes,
        diagrams_cached=sum(d.cached for d in drawn.values()),
        diagrams_drawn=sum(not d.cached for d in drawn.values()),
    )
