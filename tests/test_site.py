"""`convzoo site`: the pages' numbers are the CLI's, the output folder is ours alone, and in a real browser
(headless Chromium driven by Playwright) every page loads cleanly, the table sorts and filters, search finds
what it should, nothing overflows a phone's width and the ResNet-34 diagram is shown large enough to read.

The built site is a partial one (``--only``, a few networks) for speed; the full build is one slow test.
Browser tests skip, saying why, where Chromium or Playwright is missing (``make test`` installs both where it
runs as root). Screenshots go to ``$CONVZOO_SITE_SHOTS`` (default: a temporary folder, printed).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from convzoo.cli import main as cli_main
from convzoo.site import docs as site_docs
from convzoo.site.write import MANIFEST, publish, read_manifest, write_file

mkdocs = pytest.importorskip("mkdocs", reason="`convzoo site` needs MkDocs: pip install 'convzoo[site]'")
pytest.importorskip("material", reason="`convzoo site` needs the Material theme: pip install 'convzoo[site]'")

ONLY = ["resnet34", "googlenet", "resnet110_sd_cifar", "vgg16", "resnet18", "resnet56_cifar"]
HAS_DOT = shutil.which("dot") is not None


def _chromium() -> str | None:
    for exe in (os.environ.get("CONVZOO_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if exe and shutil.which(exe):
            return shutil.which(exe)
    return None


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The partial site, built once per run: under pytest-xdist the workers share it (built by the first
    that gets the lock), so spreading these tests over workers does not build it once per worker."""
    from filelock import FileLock  # torch's own dependency

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder all workers' temporary folders share
    out, cache = root / "convzoo-site" / "site", root / "convzoo-site" / "diagram-cache"
    with FileLock(str(root / "convzoo-site.lock")):
        if not (out / "index.html").is_file():
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                assert (
                    cli_main(["site", "-o", str(out), "--only", ",".join(ONLY), "--cache", str(cache)]) == 0
                )
            assert "wrote" in printed.getvalue()
    return out


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


# ------------------------------------------------------------------------------------------ pages and numbers


def test_a_page_per_network_and_the_home_table(site: Path) -> None:
    for name in ONLY:
        assert (site / "models" / f"{name}.html").is_file()
    home = (site / "index.html").read_text()
    rows = re.findall(r'<tr><td data-value="([a-z0-9_]+)">', home)
    assert sorted(rows) == sorted(ONLY)
    for page in ("repro/index.html", "repro/stochastic_depth/report.html", "performance.html",
                 "reliability.html", "lab.html", "charts/bubbles.png", "images/ravine_race.gif"):  # fmt: skip
        assert (site / page).is_file(), page
    assert read_manifest(site) is not None


@pytest.mark.parametrize("name", ["resnet34", "googlenet", "resnet110_sd_cifar"])
def test_page_numbers_are_convzoo_summarys(site: Path, name: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli_main(["summary", name, "--format", "json"]) == 0
    cli = json.loads(out.getvalue())
    page = _text((site / "models" / f"{name}.html").read_text())
    assert f"Total params: {cli['total_params']:,}" in page
    assert f"Total MACs: {cli['total_macs']:,}" in page
    home = (site / "index.html").read_text()
    row = re.search(rf'<tr><td data-value="{name}">.*?</tr>', home).group(0)  # type: ignore[union-attr]
    values = re.findall(r'data-value="([0-9.]+)"', row)
    assert str(cli["total_params"]) in values and str(cli["total_macs"]) in values
    # the depth-1 layer rows are the CLI's, cell by cell
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli_main(["summary", name, "--depth", "1", "--format", "markdown"]) == 0
    first_rows = [line for line in out.getvalue().splitlines() if line.startswith("| ")][1:4]
    for line in first_rows:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert re.search(r"\s*".join(re.escape(c) for c in cells), page), line


def test_model_page_contents(site: Path) -> None:
    page = _text((site / "models" / "googlenet.html").read_text())
    assert "arXiv:1409.4842" in page and "inception (3a)" in page  # citation; the paper's Table 1
    assert "Paper check" in page and "Table 1" in page
    assert "create_model('googlenet')" in page.replace("&#39;", "'")
    r34_text = _text((site / "models" / "resnet34.html").read_text())
    assert (
        "torchvision" in r34_text and "BSD-3-Clause" in r34_text and "centre crop 224" in r34_text
    )  # weights
    assert "aux_classifiers" in page  # the reproduction whose arms build it (not run yet)
    r56 = _text((site / "models" / "resnet56_cifar.html").read_text())
    assert "degradation" in r56 and "densenet_efficiency" in r56
    if (Path(__file__).parents[1] / "docs/repro/degradation/cpu/results.json").is_file():
        assert re.search(r"verdict: cpu: \w", r56)  # each published budget's verdict
    r34 = (site / "models" / "resnet34.html").read_text()
    assert 'href="resnet18.html"' in r34  # variants of a family link to each other
    if HAS_DOT:
        assert (site / "diagrams" / "resnet34.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_rebuild_uses_the_diagram_cache_and_keeps_foreign_files(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["site", "-o", str(out), "--only", "resnet18", "--cache", str(cache)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(args) == 0
    (out / "mine.txt").write_text("the user's")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert cli_main(args) == 0
    if HAS_DOT:
        assert "1 from the cache, 0 drawn" in printed.getvalue()
    assert (out / "mine.txt").read_text() == "the user's"
    # a non-empty folder convzoo did not build is refused without --force
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("not ours")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli_main(["site", "-o", str(other), "--only", "resnet18", "--cache", str(cache)]) == 2
    assert "--force" in err.getvalue() and (other / "index.html").read_text() == "not ours"


# ------------------------------------------------------------------------------------------ data, not code


def test_docs_links_kept_on_site_else_plain_and_scripts_defused(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "images").mkdir(parents=True)
    (docs / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (docs / "lab.md").write_text(
        "# Lab\n[perf](performance.md) [readme](../README.md) [web](https://example.org) [x](javascript:alert(1))\n"
        "![pic](images/a.png) ![gone](images/missing.png) ![out](../../etc/passwd.png)\n"
        "<script>alert(1)</script>\n"
    )
    (docs / "performance.md").write_text("---\ntemplate: evil.html\nhide: [navigation]\n---\n# Perf\n")
    got = site_docs.collect(docs, [])
    lab = got.pages["lab.md"]
    assert "[perf](performance.md)" in lab and "[web](https://example.org)" in lab
    assert "readme" in lab and "../README.md" not in lab and "javascript:" not in lab
    assert "![pic](images/a.png)" in lab and "missing.png" not in lab and "passwd" not in lab
    assert "<script" not in lab and "&lt;script" in lab
    assert set(got.pictures) == {"images/a.png"}
    assert "template" not in got.pages["performance.md"]  # a page's front matter would configure the theme
    assert "repro/README.md" in " ".join(got.missing)


def test_publish_owns_only_what_it_wrote(tmp_path: Path) -> None:
    staging, out = tmp_path / "staging", tmp_path / "out"
    write_file(staging / "a.html", "a")
    write_file(staging / "sub" / "b.html", "b")
    assert publish(staging, out) == ["a.html", "sub/b.html"]
    (staging / "sub" / "b.html").unlink()
    (out / "user.txt").write_text("keep")
    publish(staging, out)
    assert not (out / "sub" / "b.html").exists() and (out / "user.txt").read_text() == "keep"
    write_file(staging / "user.txt", "ours")
    with pytest.raises(ValueError, match="did not write"):
        publish(staging, out)
    publish(staging, out, force=True)
    assert (out / "user.txt").read_text() == "ours"
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "target.html")
    with pytest.raises(ValueError, match="symbolic link"):
        write_file(link, "x")
    assert not (tmp_path / "target.html").exists()


@pytest.mark.parametrize("files", [["../escape.html"], ["/etc/passwd"], ["a/../../b"], [3], "nope"])
def test_manifest_is_checked_data(tmp_path: Path, files: object) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"files": files}))
    with pytest.raises(ValueError):
        read_manifest(tmp_path)


# ------------------------------------------------------------------------------------------ in a real browser


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium: `make chromium` (apt-get install chromium) or set CONVZOO_CHROMIUM")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is missing: pip install playwright"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the browser hung up on a request it no longer wanted (it left the page): not a fault


@pytest.fixture(scope="session")
def server(site: Path):  # type: ignore[no-untyped-def]
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    thread.join()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CONVZOO_SITE_SHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def _open(browser, url: str, width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(  # ERR_ABORTED: a request the browser dropped on leaving the page, not a missing file
        "requestfailed",
        lambda r: (
            None if "ERR_ABORTED" in (r.failure or "") else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, problems


def test_every_page_loads_without_errors_broken_links_or_images(site: Path, server: str, browser) -> None:  # type: ignore[no-untyped-def]
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")
    checked: dict[str, int] = {}
    page, problems = _open(browser, server + "index.html")
    for rel in pages:
        problems.clear()
        page.goto(server + rel, wait_until="load")
        assert not problems, f"{rel}: {problems}"
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
        )
        assert not broken, f"{rel}: broken images {broken}"
        hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for href in hrefs:
            if not href.startswith(server):
                continue
            url = href.split("#")[0]
            if url not in checked:
                try:
                    with urllib.request.urlopen(url, timeout=10) as r:
                        checked[url] = r.status
                except urllib.error.HTTPError as e:
                    checked[url] = e.code
            assert checked[url] == 200, f"{rel}: broken link {href} ({checked[url]})"
    page.close()
    assert len(pages) >= len(ONLY) + 10


def test_table_sorts_and_filters(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page, problems = _open(browser, server + "index.html")

    def column(i: int) -> list[str]:
        return page.eval_on_selector_all(
            "#cz-models tbody tr:not([hidden])",
            f"rows => rows.map(r => r.cells[{i}].getAttribute('data-value'))",
        )

    page.click("#cz-models th:nth-child(4)")  # parameters, ascending
    params = [float(v) for v in column(3)]
    assert params == sorted(params) and len(params) == len(ONLY)
    page.click("#cz-models th:nth-child(4)")  # again: descending
    assert [float(v) for v in column(3)] == sorted(params, reverse=True)
    page.click("#cz-models th:nth-child(1)")
    assert column(0) == sorted(ONLY)
    page.fill("#cz-filter", "resnet")
    assert sorted(column(0)) == ["resnet110_sd_cifar", "resnet18", "resnet34", "resnet56_cifar"]
    assert page.inner_text("#cz-count") == f"4 of {len(ONLY)}"
    page.fill("#cz-filter", "2014 googlenet")
    assert column(0) == ["googlenet"]
    page.fill("#cz-filter", "")
    assert len(column(0)) == len(ONLY)
    assert not problems
    page.close()


@pytest.mark.parametrize(
    ("query", "expect"),
    [("inception (3a)", "models/googlenet.html"), ("stochastic depth", "stochastic_depth")],
)
def test_search_finds(server: str, browser, query: str, expect: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = _open(browser, server + "index.html")
    page.focus("input.md-search__input")
    page.wait_for_function(  # the search worker has loaded the index
        "document.querySelector('.md-search-result__meta').textContent.trim() !== 'Initializing search'"
    )
    page.keyboard.type(query, delay=20)
    selector = f".md-search-result__list a[href*='{expect}']"
    page.wait_for_selector(selector, timeout=20_000)
    assert page.locator(selector).count() >= 1
    assert not problems
    page.close()


@pytest.mark.parametrize(("label", "width"), [("desktop", 1280), ("phone", 390)])
@pytest.mark.parametrize(
    "rel", ["index.html", "models/resnet34.html", "models/googlenet.html", "repro/index.html"]
)
def test_no_horizontal_overflow(server: str, browser, shots: Path, label: str, width: int, rel: str) -> None:  # type: ignore[no-untyped-def]
    page, problems = _open(browser, server + rel, width=width, height=900 if width > 600 else 844)
    name = f"{rel.replace('/', '_').removesuffix('.html')}-{label}.png"
    page.screenshot(path=str(shots / name), full_page=rel == "index.html")
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{rel} at {width}px is {scroll}px wide"
    assert not problems
    page.close()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is missing (make graphviz): no diagrams are drawn")
def test_resnet34_diagram_visible_and_wide(server: str, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page, problems = _open(browser, server + "models/resnet34.html")
    img = page.locator("img[alt='diagram of resnet34']")
    img.scroll_into_view_if_needed()
    assert img.is_visible()
    box = img.bounding_box()
    assert box is not None and box["width"] >= 600, box
    assert page.evaluate("document.querySelector(\"img[alt='diagram of resnet34']\").naturalWidth") > 0
    page.screenshot(path=str(shots / "resnet34_diagram-desktop.png"))
    assert not problems
    page.close()


@pytest.mark.slow
def test_full_site_builds_in_under_three_minutes(tmp_path: Path) -> None:
    """Every registered network, diagrams drawn afresh (an empty cache). The budget is 3 minutes on 2 cores:
    checked as CPU time (this process and its Graphviz children), which a loaded machine does not inflate."""
    from convzoo.registry import list_models

    before, t = os.times(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert cli_main(["site", "-o", str(tmp_path / "site"), "--cache", str(tmp_path / "cache")]) == 0
    after, wall = os.times(), time.perf_counter() - t
    cpu = sum(after[i] - before[i] for i in range(4))  # user + system, ours and the children's
    assert all((tmp_path / "site" / "models" / f"{n}.html").is_file() for n in list_models())
    print(f"full site: {cpu:.0f} s of CPU, {wall:.0f} s wall; {printed.getvalue().splitlines()[0]}")
    assert cpu < 180, f"the full site took {cpu:.0f} s of CPU ({wall:.0f} s wall)"
