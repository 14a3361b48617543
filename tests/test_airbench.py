"""airbench94 (Jordan 2024): exact size, the frozen whitening layer computed from data, partial identity init."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import convzoo
from convzoo.data import load_data, normalize
from convzoo.models.airbench import AirbenchNet, whitening_filters
from convzoo.train import TrainConfig, get_recipe, train

# whitening 24·3·2·2 + 24; convs 24·64·9, 64·64·9, 64·256·9, 3·256·256·9; BN biases and (frozen) scales
# 2·(2·64 + 4·256); linear 256·10
PARAMS = 24 * 12 + 24 + 9 * (24 * 64 + 64 * 64 + 64 * 256 + 3 * 256 * 256) + 2 * (2 * 64 + 4 * 256) + 2560
FROZEN = 24 * 12 + (2 * 64 + 4 * 256)  # whitening filters and BN scales


def test_size_and_frozen_parameters():
    model = convzoo.create_model("airbench94")
    assert PARAMS == 1_972_792 == sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in model.parameters() if not p.requires_grad) == FROZEN
    s = convzoo.summary("airbench94")
    shapes = [tuple(r.output_shape) for r in s.layers if r.name.endswith("conv2")]
    assert shapes == [(64, 15, 15), (256, 7, 7), (256, 3, 3)]
    # at 32×32: whitening on 31×31; each group's first conv before its pool (31, 15, 7), the second after
    macs = 31 * 31 * 24 * 12 + 9 * (
        31 * 31 * 24 * 64 + 15 * 15 * 64 * 64 + 15 * 15 * 64 * 256 + 7 * 7 * 256 * 256 * 2 + 3 * 3 * 256 * 256
    )
    assert s.total_macs == macs + 2560 == 118_147_360  # the paper: 3.6e14 FLOPs ≈ 10 epochs × 6 × this


def test_whitening_filters_decorrelate_patches():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 0.3]])
    images = torch.einsum("dc,nchw->ndhw", mix, torch.randn(300, 3, 8, 8))  # correlated channels
    filters = whitening_filters(images, 2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2) and torch.allclose(filters[12:], -filters[:12])
    out = F.conv2d(images, filters[:12]).permute(0, 2, 3, 1).reshape(-1, 12)
    assert torch.allclose(out.T @ out / len(out), torch.eye(12), atol=1e-3)
    norms = [filters[i].norm() for i in range(12)]  # largest-variance direction first: smallest filter
    assert norms == sorted(norms)


def test_init_from_data_and_partial_identity():
    torch.manual_seed(0)
    model = AirbenchNet()
    images = torch.randn(64, 3, 16, 16)
    model.init_from_data(images)
    assert torch.equal(model.whiten.weight, whitening_filters(images, 2))
    conv = model.groups[1].conv1  # 64 -> 256: the first 64 filters pass their input channel through
    x = torch.randn(2, 64, 5, 5)
    assert torch.allclose(F.conv2d(x, conv.weight[:64], padding=1), x)
    logits = model(torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 10)
    model.reset_classifier(100)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_trainer_sets_the_whitening_filters_from_training_images(tmp_path):
    """The trainer calls ``init_from_data`` with normalized training images; the filters stay frozen."""
    recipe = get_recipe("fast").replace(epochs=1, batch_size=20, amp=False, channels_last=False)
    cfg = TrainConfig(
        model="airbench94",
        data="digits",
        recipe=recipe,
        image_size=32,
        per_class=4,  # 40 images, 2 steps: the check is on the filters, not on what training learns
        out_dir=str(tmp_path),
        name="air",
        progress=False,
        threads=1,
    )
    result = train(cfg, log=lambda s: None)
    data = load_data("digits", image_size=32, per_class=4)
    expected = whitening_filters(normalize(data.train.images, data.mean, data.std), 2)
    assert torch.allclose(result.model.whiten.weight, expected, atol=1e-5)
