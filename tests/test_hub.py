"""Verified downloads against a loopback HTTP server, the cache layout, and strict state_dict loading.

Each case serves a file (or a misbehaving response) on 127.0.0.1 and asserts the exact outcome: the error names
the cause and the URL, and nothing unverified is left in the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo.hub import (
    Checksum,
    DownloadError,
    download,
    fetch,
    find_source,
    load_state_dict_strict,
    read_state_dict,
    register_weights,
    rename_keys,
    weight_sources,
)

BODY = b"the published weights file " * 40
DIGEST = hashlib.sha256(BODY).hexdigest()
OTHER = b"another model's weights file " * 40


class Server:
    """Routes: /f/<name> serves FILES[name]; /hf/<name> redirects there with X-Linked-Etag = ETAGS[name];
    /redirect/<name> redirects plainly; /to-file redirects to file://; /trickle sends a byte every 0.2 s;
    /liar sends an unannounced 5,000 bytes; anything else is 404."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"w.pth": BODY, "other.bin": OTHER}
        self.etags: dict[str, str] = {}
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.hits.append(self.path)
                parts = self.path.strip("/").split("/")
                if parts[0] == "f" and parts[-1] in server.files:
                    self._send(server.files[parts[-1]])
                elif parts[0] in ("hf", "redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/f/" + parts[-1])
                    if parts[0] == "hf" and parts[-1] in server.etags:
                        self.send_header("X-Linked-Etag", f'"{server.etags[parts[-1]]}"')
                    self.end_headers()
                elif parts[0] == "to-file":
                    self.send_response(302)
                    self.send_header("Location", "file:///etc/hostname")
                    self.end_headers()
                elif parts[0] == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(25):  # bounded: 5 s at most, the test's deadline is 0.6 s
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.2)
                elif parts[0] == "liar":
                    self.send_response(200)  # no Content-Length: the body runs until the connection closes
                    self.end_headers()
                    self.wfile.write(b"y" * 5000)
                else:
                    self.send_error(404)

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- verified download and cache ------------------------------------------------------------------------------


def test_prefix_checksum_download_is_cached_under_model_source_and_hash(
    server: Server, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    path = download(f"{server.base}/f/w.pth", Checksum(DIGEST[:8]), key="m/tv", cache_dir=cache)
    assert path == cache / "m" / "tv" / DIGEST / "w.pth"
    assert path.read_bytes() == BODY
    assert files_in(cache) == [path]  # no temporary file left
    server.files.clear()  # cached: the server is not asked again
    assert download(f"{server.base}/f/w.pth", Checksum(DIGEST), key="m/tv", cache_dir=cache) == path
    assert server.hits == ["/f/w.pth"]


def test_same_file_name_from_two_sources_never_shares_a_cache_entry(server: Server, tmp_path: Path) -> None:
    server.files = {"pytorch_model.bin": BODY}
    server.etags = {"pytorch_model.bin": DIGEST}
    url = f"{server.base}/hf/pytorch_model.bin"
    a = download(url, Checksum(from_server=True), key="inception_v4/timm", cache_dir=tmp_path)
    server.files = {"pytorch_model.bin": OTHER}
    server.etags = {"pytorch_model.bin": hashlib.sha256(OTHER).hexdigest()}
    b = download(url, Checksum(from_server=True), key="inception_resnet_v2/timm", cache_dir=tmp_path)
    assert a != b and a.read_bytes() == BODY and b.read_bytes() == OTHER


def test_registered_timm_sources_download_to_distinct_files(server: Server, tmp_path: Path) -> None:
    server.files = {"pytorch_model.bin": BODY}
    server.etags = {"pytorch_model.bin": DIGEST}
    url = f"{server.base}/hf/pytorch_model.bin"
    sources = [
        dataclasses.replace(find_source(m, "timm"), url=url, file_size=len(BODY))
        for m in ("inception_v4", "inception_resnet_v2")
    ]
    paths = {fetch(ws, cache_dir=tmp_path) for ws in sources}
    assert len(paths) == 2


def test_corrupt_body_is_refused_and_nothing_is_cached(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"checksum mismatch for http://127\.0\.0\.1:\d+/f/w\.pth"):
        download(f"{server.base}/f/w.pth", Checksum("0" * 64), key="m/tv", cache_dir=tmp_path)
    assert files_in(tmp_path) == []


def test_server_published_sha256_is_required_and_checked(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/hf/w.pth"
    with pytest.raises(DownloadError, match="published no SHA-256"):
        download(url, Checksum(from_server=True), key="m/timm", cache_dir=tmp_path)
    server.etags["w.pth"] = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(url, Checksum(from_server=True), key="m/timm", cache_dir=tmp_path)
    assert files_in(tmp_path) == []
    server.etags["w.pth"] = DIGEST
    assert download(url, Checksum(from_server=True), key="m/timm", cache_dir=tmp_path).read_bytes() == BODY


@pytest.mark.parametrize(
    ("route", "bounds", "message"),
    [
        ("f/w.pth", {"max_bytes": 100}, r"is 1,080 bytes, over the 100-byte cap"),  # announced too large
        ("liar", {"max_bytes": 1000}, r"sent more than the 1,000-byte cap"),  # no size announced
        ("f/w.pth", {"min_bytes": 2000}, r"gave 1,080 bytes, fewer than the 2,000"),  # truncated
    ],
)
def test_size_outside_the_bounds_is_refused(server: Server, tmp_path: Path, route, bounds, message) -> None:
    with pytest.raises(DownloadError, match=message):
        download(f"{server.base}/{route}", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path, **bounds)
    assert files_in(tmp_path) == []


def test_a_trickling_server_hits_the_overall_deadline(server: Server, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"did not finish within the 0\.6-second deadline"):
        download(f"{server.base}/trickle", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path, deadline=0.6)
    assert time.monotonic() - start < 3.0
    assert files_in(tmp_path) == []


def test_redirects_are_followed_only_to_http(server: Server, tmp_path: Path) -> None:
    path = download(f"{server.base}/redirect/w.pth", Checksum(DIGEST[:8]), key="m/tv", cache_dir=tmp_path)
    assert path.read_bytes() == BODY
    with pytest.raises(DownloadError, match=r"/to-file.*'file:///etc/hostname'.*not"):
        download(f"{server.base}/to-file", Checksum(DIGEST), key="m/x", cache_dir=tmp_path)


def test_404_and_non_http_urls(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"could not download http://127\.0\.0\.1:\d+/f/missing.*404"):
        download(f"{server.base}/f/missing", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path)
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/hostname", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path)
    assert files_in(tmp_path) == []


def test_a_tampered_cache_entry_is_downloaded_again(server: Server, tmp_path: Path) -> None:
    path = download(f"{server.base}/f/w.pth", Checksum(DIGEST[:8]), key="m/tv", cache_dir=tmp_path)
    path.write_bytes(b"bit rot")
    with pytest.warns(UserWarning, match="no longer matches its SHA-256"):
        again = download(f"{server.base}/f/w.pth", Checksum(DIGEST[:8]), key="m/tv", cache_dir=tmp_path)
    assert again.read_bytes() == BODY and len(server.hits) == 2


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(server: Server, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="is not writable .* removed at exit"):
        path = download(f"{server.base}/f/w.pth", Checksum(DIGEST), key="m/tv", cache_dir=blocker / "cache")
    assert path.read_bytes() == BODY and not path.is_relative_to(tmp_path)


def test_parts_left_by_a_killed_download_are_removed_later(server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "m" / "tv"
    folder.mkdir(parents=True)
    stale, live = folder / ".w.pth.abc.part", folder / ".w.pth.def.part"
    stale.write_bytes(b"half a file")
    live.write_bytes(b"being written by another process")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    download(f"{server.base}/f/w.pth", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path)
    assert not stale.exists() and live.exists()


def test_a_url_ending_in_dots_stays_inside_the_cache(server: Server, tmp_path: Path) -> None:
    server.files[".."] = BODY
    path = download(f"{server.base}/f/..", Checksum(DIGEST), key="m/tv", cache_dir=tmp_path)
    assert path == tmp_path / "m" / "tv" / DIGEST / "download"


def test_cache_keys_and_checksums_are_validated() -> None:
    with pytest.raises(ValueError, match="plain names"):
        download("http://127.0.0.1:1/x", Checksum("a" * 8), key="../escape")
    with pytest.raises(ValueError, match="at least 8 hex"):
        Checksum("abc")
    with pytest.raises(ValueError, match="exactly one"):
        Checksum()


# --- every registered source is verifiable ------------------------------------------------------------------


def test_every_downloadable_source_has_a_checksum_with_provenance() -> None:
    sources = [s for s in weight_sources() if s.url]
    assert len(sources) >= 25
    for s in sources:
        assert s.checksum is not None and s.checksum.provenance, s.model
        if "huggingface.co" in s.url:  # the server's published digest, or the one its file page shows, pinned
            assert (s.checksum.from_server and "X-Linked-Etag" in s.checksum.provenance) or (
                len(s.checksum.sha256) == 64 and "Hugging Face page" in s.checksum.provenance
            ), s.url
        else:  # torchvision's and timm's GitHub files carry an 8-hex SHA-256 prefix in their names
            assert s.url.rsplit("-", 1)[1].startswith(s.checksum.sha256), s.url
            assert "prefix" in s.checksum.provenance
        for known in s.known_files:  # other published files of the same weights: a full digest or a prefix
            assert len(known.sha256) in (8, 64) and known.what, s.model
    with pytest.raises(ValueError, match="need a checksum"):
        register_weights("nope", "timm", "nope", url="https://example.invalid/pytorch_model.bin")


def test_torchvision_sources_carry_the_published_file_size() -> None:
    from convzoo.hub.load import _size_bounds

    ws = find_source("resnet50", "torchvision")
    assert ws.file_size == round(97.781 * 2**20)  # torchvision's meta['_file_size'] (MiB, 3 decimals)
    low, high = _size_bounds(ws)
    assert low < ws.file_size < high and high - low < 5000
    low, high = _size_bounds(find_source("se_resnet50", "timm"))  # no published size: a cap from the tensors
    assert low == 0 and 28_088_024 * 4 < high < 28_088_024 * 4.3
    low, high = _size_bounds(find_source("resnet50", "timm"))  # Hugging Face's "102 MB", rounded
    assert (low, high) == (101_000_000, 103_000_000)


def test_a_pinned_hugging_face_source_refuses_a_file_of_another_size_or_digest(
    server: Server, tmp_path: Path
) -> None:
    """timm's ResNet-50 is pinned to the full SHA-256 of its file page and its published size: a file served in
    its place is refused for its size first, then (sized right) for its digest; nothing enters the cache."""
    ws = find_source("resnet50", "timm")
    server.files = {"model.safetensors": BODY}
    local = dataclasses.replace(ws, url=f"{server.base}/f/model.safetensors")
    with pytest.raises(DownloadError, match="fewer than the 101,000,000 its publisher lists"):
        fetch(local, cache_dir=tmp_path)
    sized = dataclasses.replace(local, file_size=len(BODY), size_slack=0)
    with pytest.raises(DownloadError, match=f"expected sha256 {ws.checksum.sha256}"):
        fetch(sized, cache_dir=tmp_path)
    assert files_in(tmp_path) == []
    right = dataclasses.replace(sized, checksum=Checksum(DIGEST, provenance="the test's file"))
    assert fetch(right, cache_dir=tmp_path).read_bytes() == BODY


# --- reading and strict loading -------------------------------------------------------------------------------


def test_rename_and_strict_load() -> None:
    m = nn.Sequential(nn.Linear(2, 3))
    theirs = {"fc.weight": torch.ones(3, 2), "fc.bias": torch.zeros(3)}
    ours = rename_keys(theirs, [(r"^fc\.", "0.")])
    load_state_dict_strict(m, ours)
    assert torch.equal(m[0].weight, torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"missing: 0\.bias.*unexpected: fc\.bias"):
        load_state_dict_strict(m, {"0.weight": torch.ones(3, 2), "fc.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"shape mismatch: 0\.weight: ours \(3, 2\) vs theirs \(2, 2\)"):
        load_state_dict_strict(m, {"0.weight": torch.ones(2, 2), "0.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match="two keys"):
        rename_keys(theirs, [(r"\.(weight|bias)$", "")])


def test_read_state_dict_safetensors_and_torch(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    sd = {"a": torch.arange(4.0)}
    save_file(sd, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": sd}, tmp_path / "w.pth")
    assert torch.equal(read_state_dict(tmp_path / "w.safetensors")["a"], sd["a"])
    assert torch.equal(read_state_dict(tmp_path / "w.pth")["a"], sd["a"])


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x00garbage", "not a weights file convzoo can read safely"), (None, "does not hold a state_dict")],
)
def test_unreadable_weight_files_name_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "w.pth"
    if content is None:
        torch.save([1, 2, 3], path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        read_state_dict(path)
    assert str(path) in str(err.value)


def test_peer_file_with_aux_heads_loads_into_model_without_them() -> None:
    import torchvision

    import convzoo

    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    ours = convzoo.create_model("inception_v3", aux_logits=False).eval()
    convzoo.load_weights(ours, "torchvision", state_dict=tv.state_dict())
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        assert (ours(x) - tv(x)).abs().max() < 1e-4
