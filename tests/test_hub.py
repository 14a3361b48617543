"""Verified downloads (against a loopback HTTP server) and strict state_dict loading."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo.hub import download, load_state_dict_strict, rename_keys


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verifies_checksum(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    sd = {"w": torch.arange(6.0)}
    torch.save(sd, root / "weights-abc.pth")
    digest = hashlib.sha256((root / "weights-abc.pth").read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    path = download(f"{base}/weights-abc.pth", digest[:8], cache_dir=cache)
    assert path.name == "weights-abc.pth"
    assert torch.equal(torch.load(path, weights_only=True)["w"], sd["w"])
    # cached: a second call does not need the server file any more
    (root / "weights-abc.pth").unlink()
    assert download(f"{base}/weights-abc.pth", digest, cache_dir=cache) == path


def test_download_rejects_bad_checksum_and_keeps_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "bad.pth").write_bytes(b"not the file you want")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download(f"{base}/bad.pth", "0" * 64, cache_dir=cache)
    assert list(cache.iterdir()) == []


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

    from convzoo.hub import read_state_dict

    sd = {"a": torch.arange(4.0)}
    save_file(sd, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": sd}, tmp_path / "w.pth")
    assert torch.equal(read_state_dict(tmp_path / "w.safetensors")["a"], sd["a"])
    assert torch.equal(read_state_dict(tmp_path / "w.pth")["a"], sd["a"])


def test_peer_file_with_aux_heads_loads_into_model_without_them() -> None:
    import torchvision

    import convzoo

    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    ours = convzoo.create_model("inception_v3", aux_logits=False).eval()
    convzoo.load_weights(ours, "torchvision", state_dict=tv.state_dict())
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        assert (ours(x) - tv(x)).abs().max() < 1e-4
