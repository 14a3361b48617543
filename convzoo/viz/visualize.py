"""What a trained network has learned: first-layer filters (Krizhevsky et al. 2012, Fig. 3), activation maps,
and the top-9 patches of chosen channels with their projections back to pixels (Zeiler & Fergus 2013,
arXiv:1311.2901, Fig. 2) by a deconvnet or by guided backpropagation (Springenberg et al. 2014, arXiv:1412.6806).

Everything runs on a private copy of the model, so the user's module (weights, hooks, mode) is untouched.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid

from convzoo.trust_write import check_target, output

METHODS = ("guided", "deconvnet")


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first convolution the input meets (in module order)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError(f"{type(model).__name__} has no convolution to show filters of")


def last_conv_name(model: nn.Module) -> str:
    """The name of the last convolution in module order: the deepest maps, the default layer to look into."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no convolution to look into")
    return names[-1]


def strongest_channels(maps: torch.Tensor, k: int = 4) -> list[int]:
    """The ``k`` channels of ``maps`` (N×C×H×W) with the largest single response over all images."""
    return maps.flatten(2).amax(dim=(0, 2)).argsort(descending=True)[:k].tolist()


def filter_grid(weight: torch.Tensor, nrow: int | None = None, padding: int = 1) -> torch.Tensor:
    """Filters (out × in × kh × kw) as one image grid C×H×W in [0, 1], each filter scaled to its own range as
    in AlexNet's Fig. 3; filters with 3 input channels show as colour, others show their mean over inputs."""
    if weight.dim() != 4:
        raise ValueError(f"filters must be out×in×kh×kw, got shape {tuple(weight.shape)}")
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.mean(1, keepdim=True)
    nrow = nrow or max(1, round(w.shape[0] ** 0.5 * 1.5))
    return make_grid(w, nrow=nrow, padding=padding, normalize=True, scale_each=True, pad_value=1.0)


def _private(model: nn.Module) -> nn.Module:
    net = copy.deepcopy(model).float().cpu().eval()
    for m in net.modules():
        if hasattr(m, "inplace"):
            m.inplace = False  # backward hooks cannot see through in-place activations
        m._forward_hooks.clear()
        m._backward_hooks.clear()
    return net


def _module(net: nn.Module, layer: str) -> nn.Module:
    mods = dict(net.named_modules())
    if layer not in mods or not layer:
        import difflib

        names = list(mods)[1:]
        near = difflib.get_close_matches(layer, names, n=1, cutoff=0.4)
        hint = f"; the nearest is {near[0]!r}" if near else ""
        some = ", ".join(n for n in names if n.count(".") <= 1)[:300]
        raise ValueError(f"no layer {layer!r} in {type(net).__name__}{hint} (layers include: {some})")
    return mods[layer]


def default_activation_layer(model: nn.Module, image_size: Sequence[int], min_side: int = 7) -> str:
    """The last layer (a convolution, or a module made of them) whose maps are at least ``min_side`` pixels
    each way on an input of ``image_size`` (C×H×W): deep, yet maps one can still see (LeNet-5's c3, not its
    1×1 c5). Of modules that pass the same maps on, the innermost is named."""
    net = _private(model)
    seen: list[tuple[str, torch.Tensor]] = []
    names = {m: n for n, m in net.named_modules() if n and any(isinstance(c, nn.Conv2d) for c in m.modules())}

    def hook(m: nn.Module, i: object, o: object) -> None:
        if isinstance(o, torch.Tensor) and o.dim() == 4 and not (seen and seen[-1][1] is o):
            seen.append((names[m], o))

    hooks = [m.register_forward_hook(hook) for m in names]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *image_size))
    finally:
        for h in hooks:
            h.remove()
    big = [n for n, o in seen if min(o.shape[-2:]) >= min_side]
    return big[-1] if big else last_conv_name(model)


def activations(model: nn.Module, layer: str, images: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` (a module name) for normalized ``images`` (N×C×H×W): N×C'×H'×W'."""
    net = _private(model)
    out: list[torch.Tensor] = []
    handle = _module(net, layer).register_forward_hook(lambda m, i, o: out.append(o))
    try:
        with torch.no_grad():
            net(images.float())
    finally:
        handle.remove()
    if not out or out[0].dim() != 4:
        raise ValueError(f"layer {layer!r} does not give feature maps (N×C×H×W)")
    return out[0]


def activation_grid(maps: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """One image's maps (C×H×W) as a grid, every map scaled to its own range."""
    nrow = nrow or max(1, round(maps.shape[0] ** 0.5))
    return make_grid(
        maps.detach().float().unsqueeze(1), nrow=nrow, padding=1, normalize=True, scale_each=True
    )


def _relu_hooks(net: nn.Module, method: str) -> list:
    """Backward rules at every ReLU: guided backprop keeps positive gradients where the input was positive
    (ReLU's own mask, then a clamp); the deconvnet passes positive gradients regardless of the input."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")

    def guided(m: nn.Module, gin: tuple, gout: tuple) -> tuple:
        return tuple(None if g is None else g.clamp(min=0) for g in gin)

    def deconv(m: nn.Module, gin: tuple, gout: tuple) -> tuple:
        return (gout[0].clamp(min=0),)

    rule = guided if method == "guided" else deconv
    return [m.register_full_backward_hook(rule) for m in net.modules() if isinstance(m, nn.ReLU)]


@dataclass
class TopPatch:
    """One of the strongest activations of a channel: the image, the unit's position, its value, the patch of
    the image the unit sees (where the projection is nonzero) and the projection itself (3×H×W, [0, 1])."""

    index: int
    y: int
    x: int
    value: float
    box: tuple[int, int, int, int]  # top, left, bottom, right (exclusive) in the image
    projection: torch.Tensor


def project(
    model: nn.Module, layer: str, channel: int, image: torch.Tensor, method: str = "guided"
) -> TopPatch:
    """Project the strongest unit of ``channel`` of ``layer`` on ``image`` (C×H×W, normalized) back to pixels."""
    net = _private(model)
    handles = _relu_hooks(net, method)
    out: list[torch.Tensor] = []
    handles.append(_module(net, layer).register_forward_hook(lambda m, i, o: out.append(o)))
    x = image.float().unsqueeze(0).requires_grad_(True)
    try:
        net(x)
        maps = out[0]
        if maps.dim() != 4 or not 0 <= channel < maps.shape[1]:
            raise ValueError(
                f"layer {layer!r} has {maps.shape[1] if maps.dim() > 1 else 0} channels, not {channel}"
            )
        a = maps[0, channel]
        pos = int(a.argmax())
        y, xx = divmod(pos, a.shape[1])
        a.flatten()[pos].backward()
    finally:
        for h in handles:
            h.remove()
    grad = x.grad[0].detach()  # type: ignore[index]
    return TopPatch(-1, y, xx, float(a.detach().flatten()[pos]), _support(grad), _to_unit(grad))


def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    nz = grad.abs().sum(0).nonzero()
    if nz.numel() == 0:
        return (0, 0, grad.shape[1], grad.shape[2])
    (t, left), (b, r) = nz.min(0).values.tolist(), nz.max(0).values.tolist()
    return (t, left, b + 1, r + 1)


def _to_unit(g: torch.Tensor) -> torch.Tensor:
    """A projection shown as ZFNet does: centred on grey, scaled to the unit interval."""
    g = g - g.mean()
    return (0.5 + 0.5 * g / g.abs().max().clamp(min=1e-12)).clamp(0, 1)


def top_patches(
    model: nn.Module, layer: str, channel: int, images: torch.Tensor, k: int = 9, method: str = "guided",
    maps: torch.Tensor | None = None,
) -> list[TopPatch]:  # fmt: skip
    """The ``k`` images (normalized N×C×H×W) on which ``channel`` of ``layer`` responds most (its strongest
    unit), each with its patch box and projection; ``maps``: the layer's activations on ``images`` if already
    computed."""
    maps = activations(model, layer, images) if maps is None else maps
    if not 0 <= channel < maps.shape[1]:
        raise ValueError(f"layer {layer!r} has {maps.shape[1]} channels, not {channel}")
    best = maps[:, channel].flatten(1).max(1).values
    picks = best.argsort(descending=True)[:k].tolist()
    out = []
    for i in picks:
        p = project(model, layer, channel, images[i], method)
        p.index = i
        out.append(p)
    return out


def _crop(raw: torch.Tensor, box: tuple[int, int, int, int], side: int) -> torch.Tensor:
    t, left, b, r = box
    patch = raw[:, t:b, left:r].float() / 255
    patch = patch.expand(3, -1, -1) if patch.shape[0] == 1 else patch
    return F.interpolate(patch.unsqueeze(0), size=(side, side), mode="nearest")[0]


def top_patch_figure(
    model: nn.Module, layer: str, channels: Sequence[int], images: torch.Tensor, raw: torch.Tensor,
    path: str | Path, method: str = "guided", maps: torch.Tensor | None = None, *, force: bool = False,
    note: str = "",
) -> Path:  # fmt: skip
    """ZFNet Fig. 2 for ``channels``: per channel, the top-9 patches (right) and their projections (left);
    the layer's activations are computed once for all channels (or given as ``maps``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(channels), 2, figsize=(6, 3 * len(channels)), squeeze=False)
    side = max(16, images.shape[-1] // 2)
    maps = activations(model, layer, images) if maps is None else maps
    for row, ch in enumerate(channels):
        tops = top_patches(model, layer, ch, images, 9, method, maps)
        projs = [_crop(t.projection.mul(255), t.box, side) for t in tops]
        patches = [_crop(raw[t.index], t.box, side) for t in tops]
        for col, (title, tiles) in enumerate((("projection", projs), ("image patch", patches))):
            axes[row][col].imshow(make_grid(tiles, nrow=3, padding=1, pad_value=1).permute(1, 2, 0).numpy())
            axes[row][col].set_title(f"{layer} channel {ch}: {title}", fontsize=8)
            axes[row][col].axis("off")
    fig.suptitle(
        f"top-9 activations and their {method} projections (after Zeiler & Fergus 2013, Fig. 2)"
        + (f"\n{note}" if note else ""),
        fontsize=9,
        color="firebrick" if note else "black",
    )
    fig.tight_layout()
    return _save(fig, path, force)


def _save(fig: object, path: str | Path, force: bool = False) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with output(path, force=force) as tmp:  # an existing file convzoo did not write needs force
            fig.savefig(tmp, dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]
    return path


def save_grid(
    grid: torch.Tensor, path: str | Path, title: str = "", scale: int | None = None, *, force: bool = False
) -> Path:
    """Write a grid (C×H×W in [0, 1]) as an image, pixels enlarged ``scale`` times (default: to ~400 px)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = grid.shape[-2:]
    scale = scale or max(1, 400 // max(h, w))
    fig = plt.figure(figsize=(max(2.0, w * scale / 100), max(2.0, h * scale / 100) + 0.3))
    ax = fig.add_axes((0, 0, 1, 0.94 if title else 1))
    img = grid.permute(1, 2, 0).numpy()
    ax.imshow(img if img.shape[2] == 3 else img[..., 0], cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=8)
    return _save(fig, path, force)


# ---------------------------------------------------------------------------------------------- command


@dataclass
class _Source:
    net: nn.Module
    mean: tuple[float, ...] | None  # None: the data's own statistics
    std: tuple[float, ...] | None
    side: int
    data: str | None  # the data set a run was trained on
    name: str = ""  # what the pictures' titles call it
    random: bool = False  # untrained (random) weights: said on the picture and in the output


RANDOM_NOTE = "untrained (random) weights"


def _load(source: str, model: str | None, weights: str | None = None, weights_file: str | None = None) -> _Source:
    """A run folder or weights file (validated through the trust module), a registered model with a peer's
    weights (``weights``: "torchvision" or "timm", from ``weights_file`` or the verified download, with the
    peer's preprocessing), or a registered model's name alone (random weights)."""
    from convzoo.registry import create_model, list_models, model_info

    if weights_file is not None and weights is None:
        raise ValueError("--weights-file is a local copy of a peer's file: name the peer with --weights SOURCE")
    if weights is not None:
        if source not in list_models():
            raise ValueError(
                f"--weights {weights} loads a peer's weights into a registered model: SOURCE must be its name "
                f"(e.g. `convzoo visualize vgg16 filters --weights torchvision`), not {source!r}"
            )
        from convzoo.hub.load import load_pretrained

        # an error naming the sources that exist; a --weights-file's content decides whose weights (and
        # preprocessing) they are: a V2 file named as torchvision is V2
        net, ws = load_pretrained(source, weights, file=weights_file)
        net = net.eval()
        pre = ws.preprocess
        side = pre.crop if pre is not None else model_info(source).input_size[-1]
        return _Source(net, pre.mean if pre else None, pre.std if pre else None, side, None,
                       f"{source} ({ws.source} weights)")  # fmt: skip
    if Path(source).exists():
        from convzoo.train.inference import load_trained

        net, meta = load_trained(source, model)
        return _Source(net, meta.mean, meta.std, meta.image_size[-1], meta.data or None, Path(source).name)
    if source in list_models():
        net = create_model(source).eval()
        return _Source(net, None, None, model_info(source).input_size[-1], None, source, random=True)
    raise FileNotFoundError(f"{source!r} is neither a run folder, a weights file nor a registered model")


_APPLIES = {  # option → the pictures it changes; any other picture refuses it rather than ignore it
    "layer": ("activations", "top"),
    "channels": ("top",),
    "image": ("activations",),
    "data": ("activations", "top"),
    "method": ("top",),
}


def _refuse_unused(args: argparse.Namespace) -> None:
    for opt, whats in _APPLIES.items():
        if getattr(args, opt, None) is not None and args.what not in whats:
            raise ValueError(f"--{opt} does not change `visualize {args.what}`; it applies to {' and '.join(whats)}")


def _images(data: str, src: _Source, args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Up to ``--limit`` test images of ``data`` (raw uint8, and normalized) and the splits they came from."""
    from convzoo.data import load_data

    try:
        root, fetch = getattr(args, "data_root", None), bool(getattr(args, "download", False))
        splits = load_data(data, per_class=max(1, args.limit // 10), image_size=src.side, root=root, download=fetch)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{e} (`convzoo visualize` takes --download and --data-root, or --data FOLDER for your own images"
            + (", or --image FILE" if args.what == "activations" else "")
            + ")"
        ) from None
    test = splits.test or splits.train
    chans = first_conv(src.net).in_channels
    if test.images.shape[1] != chans:
        raise ValueError(f"--data {data} has {test.images.shape[1]}-channel images; the model takes {chans}")
    m = torch.tensor(src.mean or splits.mean).view(-1, 1, 1)
    s = torch.tensor(src.std or splits.std).view(-1, 1, 1)
    raw = test.images[: args.limit]
    return raw, (raw.float() / 255 - m) / s, splits


def visualize_cli(args: argparse.Namespace) -> list[Path]:
    _refuse_unused(args)
    src = _load(args.source, args.model, getattr(args, "weights", None), getattr(args, "weights_file", None))
    net = src.net
    out = Path(args.output or f"{args.what}.png")
    force = getattr(args, "force", False)
    check_target(out, force=force)  # refused before the work, not after
    note = f" — {RANDOM_NOTE}" if src.random else ""
    if src.random:
        print(f"note: {src.name} has {RANDOM_NOTE}: what is drawn is its initialisation, not anything learned; "
              "give a run folder, or --weights SOURCE (`convzoo list --weights`)")  # fmt: skip
    chans = first_conv(net).in_channels
    if args.layer is not None:
        _module(net, args.layer)  # an unknown layer is refused now, naming the nearest, before any data is read
    if args.what == "filters":
        conv = first_conv(net)
        title = f"{src.name}: first-layer filters {tuple(conv.weight.shape)}{note}"
        return [save_grid(filter_grid(conv.weight), out, title, force=force)]
    data = args.data or src.data or "cifar10"
    if args.what == "activations":
        layer = args.layer or default_activation_layer(net, (chans, src.side, src.side))
        if args.image and src.mean is not None:
            m, s = torch.tensor(src.mean).view(-1, 1, 1), torch.tensor(src.std).view(-1, 1, 1)
        else:
            _, images, splits = _images(data, src, args)
            m = torch.tensor(src.mean or splits.mean).view(-1, 1, 1)
            s = torch.tensor(src.std or splits.std).view(-1, 1, 1)
        if args.image:
            from convzoo.data import read_image

            arr = read_image(args.image, "L" if chans == 1 else "RGB", size=src.side)
            image, name = (torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255 - m) / s, args.image
        else:
            image, name = images[:1], f"{data} test image 0"
        maps = activations(net, layer, image)[0]
        print(f"layer {layer} ({maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]}) on {name}")
        title = f"{src.name}: {layer} on {name}{note}"
        return [save_grid(activation_grid(maps), out, title, force=force)]
    layer = args.layer or last_conv_name(net)
    raw, images, _ = _images(data, src, args)
    maps = activations(net, layer, images)
    if args.channels:
        channels = [int(c) for c in args.channels.split(",") if c.strip()]
    else:
        channels = strongest_channels(maps)
    print(f"layer {layer}, channels {','.join(map(str, channels))}, {len(images)} {data} images searched")
    return [top_patch_figure(net, layer, channels, images, raw, out, args.method or "guided", maps, force=force,
                             note=f"{src.name}: {RANDOM_NOTE}" if src.random else "")]  # fmt: skip
