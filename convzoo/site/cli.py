"""`convzoo site -o DIR`: the zoo as a static website (MkDocs + Material)."""

from __future__ import annotations

import argparse

from convzoo.cli_args import MAX_WORKERS, WORKERS_WHY, output_folder, whole_number


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give model names separated by commas, e.g. resnet34,googlenet")
    return names


def _site(args: argparse.Namespace) -> int:
    from convzoo.site.build import build_site

    r = build_site(
        args.output, only=args.only, docs=args.docs, cache=args.cache, force=args.force, jobs=args.jobs
    )
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items() if k != "total")
    print(
        f"wrote {r.out}: {r.pages} pages ({len(r.models)} networks), {r.files} files, in {r.seconds['total']:.1f} s "
        f"({parts}; diagrams: {r.diagrams_cached} from the cache, {r.diagrams_drawn} drawn)"
    )
    for note in r.notes:
        print(f"note: {note}")
    print(f"open {r.out / 'index.html'} in a browser")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "site",
        help="build the website: one page per network, the charts, the reproductions (MkDocs)",
        description="Build a static website from the registry and the committed results, with the same "
        "functions as the other commands: a page per registered network (paper, family, diagram, layer "
        "tables, paper check, weights, reproductions, code), a home page with the chart and a sortable table, "
        "the reproductions, performance, reliability and optimizer-lab pages.",
    )
    p.add_argument("-o", "--output", type=output_folder, default="site", help="output folder (default: site)")
    p.add_argument(
        "--only", type=_names, help="only these networks, comma-separated (a quicker partial site)"
    )
    p.add_argument(
        "--docs", help="docs folder to take the reproductions and other pages from (default: the repo's)"
    )
    p.add_argument(
        "--cache",
        type=output_folder,
        help="where diagram layouts are cached (default: ~/.cache/convzoo/site-diagrams)",
    )
    p.add_argument(
        "--jobs",
        type=whole_number(1, MAX_WORKERS, WORKERS_WHY),
        help="parallel Graphviz processes (default: the number of cores)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace files in the output folder convzoo did not write"
    )
    p.set_defaults(func=_site)
