"""Streaming image folders: ImageNet layout (class folders, flat val + devkit), safe DCT-domain decoding, the
papers' decode-time augmentation, global-batch sharding, colour augmentation on the device, and (slow)
ResNet-18 trained and evaluated with every protocol through the streaming path on 1 and 2 processes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from convzoo.data import BadImageError, DataFileError, normalize
from convzoo.data.paper_augment import PAPER_AUGMENTS, _Transform, train_transform
from convzoo.data.stream import (
    GlobalBatchSampler,
    StreamingFolder,
    choose_streaming,
    class_names,
    collate_uint8,
    decode_box,
    finish_batch,
    index_split,
    make_loader,
    stream_splits,
)

WNIDS = ["n01440764", "n01443537", "n01484850"]


def _jpeg(path: Path, w: int, h: int, seed: int, colour: tuple[int, int, int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if colour is None:  # smooth gradients plus noise: a JPEG of realistic size
        yy, xx = np.mgrid[0:h, 0:w]
        rng = np.random.default_rng(seed)
        a = np.stack([(xx * (c + 1) * 255 // w + yy * 128 // h) % 256 for c in range(3)], -1)
        a = (a + rng.integers(0, 20, a.shape)).clip(0, 255).astype(np.uint8)
    else:
        a = np.broadcast_to(np.array(colour, np.uint8), (h, w, 3))
    Image.fromarray(a).save(path, quality=90)
    return path


def _meta_mat(path: Path, wnids: list[str]) -> Path:
    scipy_io = pytest.importorskip("scipy.io", reason="the devkit's meta.mat is read with SciPy")
    rows = [(i + 1, w, f"name of {w}", 0) for i, w in enumerate(reversed(wnids))]  # IDs are not in wnid order
    rows.append((len(wnids) + 1, "n00000001", "an inner node", 2))
    arr = np.array(rows, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")])
    scipy_io.savemat(path, {"synsets": arr})
    return path


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/<wnid>/*.JPEG (varied sizes) and a flat val/ with the devkit's ground truth."""
    root = tmp_path_factory.mktemp("imagenet")
    sizes = [(120, 90), (64, 100), (200, 64), (80, 80)]
    for c, w in enumerate(WNIDS):
        for j, (a, b) in enumerate(sizes):
            _jpeg(root / "train" / w / f"{w}_{j}.JPEG", a, b, 10 * c + j)
    devkit = root / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    _meta_mat(devkit / "meta.mat", WNIDS)
    truth = [3, 1, 2, 2, 1]  # ILSVRC2012_IDs: 1 → WNIDS[2], 3 → WNIDS[0]
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{t}\n" for t in truth))
    for k in range(1, 6):
        _jpeg(root / "val" / f"ILSVRC2012_val_{k:08d}.JPEG", 70 + 9 * k, 60, 100 + k)
    return root


# ------------------------------------------------------------------------------------------- the layout


def test_class_folders_and_the_flat_devkit_val_share_label_numbers(imagenet: Path) -> None:
    train = index_split(imagenet, "train")
    assert (
        train.classes == tuple(WNIDS) and len(train) == 12 and train.labels == tuple(np.repeat([0, 1, 2], 4))
    )
    val = index_split(imagenet, "val", classes=train.classes)
    assert [p.name for p in val.files] == [f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 6)]
    assert val.labels == (0, 2, 1, 1, 2)  # IDs 3, 1, 2, 2, 1 of a meta.mat listing WNIDS reversed
    assert len(train.per_class(2)) == 6


@pytest.mark.parametrize(
    ("break_it", "error", "match"),
    [
        (
            lambda r: (r / "gt.txt").write_text("1\n7\n3\n2\n1\n"),
            DataFileError,
            "'7' is not an ILSVRC2012_ID",
        ),
        (lambda r: (r / "gt.txt").write_text("1\n2\n"), DataFileError, "k from 1 to 2"),
        (lambda r: (r / "gt.txt").unlink(), FileNotFoundError, "needs the devkit's"),
        (lambda r: (r / "gt.txt").write_bytes(b"1\n" * 3_000_000), DataFileError, "larger than any"),
        (
            lambda r: (r / "gt.txt").write_bytes(b"9" * 5000),
            DataFileError,
            "'99999999999999999999' is not an",
        ),
    ],
)
def test_a_bad_ground_truth_file_is_refused_by_name(
    imagenet: Path, tmp_path: Path, break_it, error, match
) -> None:  # noqa: ANN001
    gt = tmp_path / "gt.txt"
    gt.write_text("3\n1\n2\n2\n1\n")
    break_it(tmp_path)
    meta = imagenet / "ILSVRC2012_devkit_t12" / "data" / "meta.mat"
    with pytest.raises(error, match=match):
        index_split(imagenet, "val", classes=WNIDS, ground_truth=gt, meta=meta)


@settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300) | st.text(alphabet="0123456789\n -x", max_size=60).map(str.encode))
def test_any_ground_truth_bytes_index_or_fail_naming_the_file(
    imagenet: Path, tmp_path: Path, data: bytes
) -> None:
    gt = tmp_path / "fuzz_gt.txt"
    gt.write_bytes(data)
    meta = imagenet / "ILSVRC2012_devkit_t12" / "data" / "meta.mat"
    try:
        val = index_split(imagenet, "val", classes=WNIDS, ground_truth=gt, meta=meta)
    except DataFileError as e:
        assert "fuzz_gt.txt" in str(e) or "ILSVRC2012_val_" in str(e)
    else:
        assert len(val) == 5 and all(0 <= y < 3 for y in val.labels)


def test_a_flat_val_file_outside_the_devkit_naming_is_refused(imagenet: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    (root / "val").mkdir(parents=True)
    _jpeg(root / "val" / "holiday.jpg", 40, 40, 0)
    data = imagenet / "ILSVRC2012_devkit_t12" / "data"
    with pytest.raises(DataFileError, match="holiday.jpg: a flat val/ holds ILSVRC2012_val_"):
        index_split(
            root, "val", ground_truth=data / "ILSVRC2012_validation_ground_truth.txt", meta=data / "meta.mat"
        )


def test_a_damaged_meta_mat_is_a_data_error(imagenet: Path, tmp_path: Path) -> None:
    pytest.importorskip("scipy.io")
    bad = tmp_path / "meta.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    gt = imagenet / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
    with pytest.raises(DataFileError, match="meta.mat: not the devkit's meta.mat"):
        index_split(imagenet, "val", ground_truth=gt, meta=bad)


def test_class_names_from_torchvision_for_imagenet_1k_else_the_devkit_or_the_folders(imagenet: Path) -> None:
    wnids = [f"n{i:08d}" for i in range(1000)]
    names = class_names(wnids)
    assert len(names) == 1000 and names[0] == "tench"
    assert class_names(["cat", "dog"]) == ["cat", "dog"]
    meta = imagenet / "ILSVRC2012_devkit_t12" / "data" / "meta.mat"
    assert class_names(WNIDS, meta) == [f"name of {w}" for w in WNIDS]


def test_the_data_path_streams_large_or_flat_val_folders_and_obeys_the_flag(
    imagenet: Path, tmp_path: Path
) -> None:
    assert choose_streaming(imagenet, 224) == (
        True,
        "data: streaming 12 training images (val/ is ImageNet's flat layout)",
    )
    small = tmp_path / "small"
    _jpeg(small / "train" / "a" / "0.jpg", 30, 30, 0)
    assert choose_streaming(small, 32, budget_bytes=10_000)[0] is False  # 3 KB decoded
    stream, why = choose_streaming(small, 64, budget_bytes=10_000)  # 12 KB decoded
    assert stream and "> the 0.0 GiB in-memory budget" in why
    assert choose_streaming(imagenet, 224, force="memory") == (False, "data: memory (forced)")
    with pytest.raises(ValueError, match="'stream' or 'memory', not 'disk'"):
        choose_streaming(small, 32, force="disk")


# ---------------------------------------------------------------------------------------------- decoding


def test_dct_downscaling_decodes_a_small_crop_of_a_large_jpeg_like_a_full_decode(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "big.jpg", 1600, 1200, 0)
    drafted = np.asarray(decode_box(path, None, lambda w, h: (100, 75))).astype(float)
    with Image.open(path) as img:
        full = np.asarray(img.convert("RGB").resize((100, 75), Image.BILINEAR)).astype(float)
    assert drafted.shape == (75, 100, 3)
    assert np.abs(drafted - full).mean() < 3.0  # 8× DCT reduction, then bilinear: within JPEG noise


def test_too_many_pixels_or_a_corrupt_file_is_a_bad_image_naming_the_file(tmp_path: Path) -> None:
    big = _jpeg(tmp_path / "big.jpg", 300, 200, 0)
    with pytest.raises(BadImageError, match=r"big\.jpg: 300×200 = 60,000 pixels.*--skip-bad-images"):
        decode_box(big, None, lambda w, h: (10, 10), max_pixels=50_000)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(big.read_bytes()[:400])
    with pytest.raises(BadImageError, match=r"cannot decode image .*broken\.jpg"):
        decode_box(broken, None, lambda w, h: (10, 10))


def test_skipped_unreadable_images_are_dropped_from_the_batch(imagenet: Path, tmp_path: Path) -> None:
    root = tmp_path / "r"
    for i in range(3):
        _jpeg(root / "train" / "a" / f"{i}.jpg", 50, 40, i)
    (root / "train" / "a" / "3.jpg").write_bytes(b"not a jpeg")
    index = index_split(root, "train")
    strict = StreamingFolder(index, train_transform("center", 16))
    with pytest.raises(BadImageError, match=r"3\.jpg"):
        strict[3]
    lenient = StreamingFolder(index, train_transform("center", 16), on_bad="skip")
    with pytest.warns(UserWarning, match=r"skipped unreadable image .*3\.jpg"):
        x, y, i = collate_uint8([lenient[k] for k in range(4)])
    assert x.shape == (3, 3, 16, 16) and i.tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------------- paper augmentation


def _boxes(name: str, w: int, h: int, n: int = 300) -> list[tuple[float, float, float, float]]:
    t = _Transform(PAPER_AUGMENTS[name], 224)
    return [t.box(w, h, np.random.default_rng(i)) for i in range(n)]


def test_alexnet_crops_224_of_the_256_square() -> None:
    for left, top, right, bottom in _boxes("alexnet", 512, 300):
        assert right - left == pytest.approx(300 * 224 / 256) == bottom - top
        assert 106 - 1e-9 <= left and right <= 406 + 1e-9 and 0 <= top and bottom <= 300 + 1e-9
        assert (left - 106) / (300 / 256) == pytest.approx(round((left - 106) / (300 / 256)))  # whole pixels


@pytest.mark.parametrize(("name", "lo", "hi"), [("vgg", 256, 512), ("resnet", 256, 480)])
def test_scale_jittering_draws_the_shorter_side_in_the_papers_range(name: str, lo: int, hi: int) -> None:
    sides = []
    for left, top, right, bottom in _boxes(name, 400, 300):
        assert right - left == pytest.approx(bottom - top)
        assert 0 <= left and right <= 400 + 1e-9 and 0 <= top and bottom <= 300 + 1e-9
        sides.append(300 * 224 / (right - left))  # the shorter side S of the rescaled image
    assert lo - 1e-6 <= min(sides) < lo + 20 and hi - 20 < max(sides) <= hi + 1e-6


def test_inception_crops_8_to_100_percent_of_the_area_at_aspect_3_4_to_4_3() -> None:
    for left, top, right, bottom in _boxes("inception", 400, 300):
        w, h = right - left, bottom - top
        assert 0.08 * 120_000 - 1e-6 <= w * h <= 120_000 + 1e-6 or (w, h) == pytest.approx((400, 300))
        assert 3 / 4 - 1e-9 <= w / h <= 4 / 3 + 1e-9


def test_centre_view_is_the_middle_of_the_256_image_and_never_mirrored() -> None:
    side = 300 * 224 / 256
    want = ((512 - side) / 2, (300 - side) / 2, (512 + side) / 2, (300 + side) / 2)
    assert all(b == pytest.approx(want) for b in _boxes("center", 512, 300, 5))
    assert not PAPER_AUGMENTS["center"].flip and all(
        PAPER_AUGMENTS[k].flip for k in PAPER_AUGMENTS if k != "center"
    )


def test_an_unknown_paper_augmentation_lists_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown paper augmentation 'alexnet2'; use one of: center, alexnet"
    ):
        train_transform("alexnet2", 224)


def test_each_sample_depends_on_seed_epoch_and_index_only(imagenet: Path) -> None:
    ds = StreamingFolder(index_split(imagenet, "train"), train_transform("inception", 32), seed=3)
    a = [x for x, _, _ in make_loader(ds, 4, shuffle=True, epoch=1, workers=0)]
    b = [x for x, _, _ in make_loader(ds, 4, shuffle=True, epoch=1, workers=1)]
    c = [x for x, _, _ in make_loader(ds, 4, shuffle=True, epoch=2, workers=0)]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, c, strict=True))
    assert a[0].dtype == torch.uint8 and a[0].shape == (4, 3, 32, 32)


# ------------------------------------------------------------------------------------------- sharding


@pytest.mark.parametrize(
    ("n", "batch", "world"), [(10, 4, 1), (10, 4, 2), (11, 4, 2), (9, 4, 2), (13, 6, 3), (7, 7, 3)]
)
def test_global_batches_cover_every_image_once_with_equal_steps_and_no_empty_slice(
    n: int, batch: int, world: int
) -> None:
    ranks = [
        list(GlobalBatchSampler(n, batch, shuffle=True, seed=1, epoch=2, rank=r, world=world))
        for r in range(world)
    ]
    whole = GlobalBatchSampler(n, batch, shuffle=True, seed=1, epoch=2, world=world).global_batches()
    assert len({len(r) for r in ranks}) == 1 and all(b for r in ranks for b in r)
    assert sorted(i for r in ranks for b in r for i in b) == list(range(n))
    for step, indices in enumerate(whole):  # each step's slices make up that step's global batch
        assert sorted(i for r in ranks for i in r[step]) == sorted(indices)
    single = GlobalBatchSampler(n, batch, shuffle=True, seed=1, epoch=2).global_batches()
    if n % batch == 0 or n % batch >= world:  # a one-process run sees the same batches
        assert whole == single
    else:  # a remainder smaller than the world joins the last full batch
        assert whole[:-1] == single[:-2] and whole[-1] == single[-2] + single[-1]


def test_a_resumed_epoch_continues_with_the_batches_it_would_have_seen(imagenet: Path) -> None:
    ds = StreamingFolder(index_split(imagenet, "train"), train_transform("vgg", 16), seed=4)
    whole = list(make_loader(ds, 5, shuffle=True, epoch=3))
    rest = list(make_loader(ds, 5, shuffle=True, epoch=3, start=1))
    assert len(whole) == 3 and len(rest) == 2  # 12 images: batches of 5, 5 and 2
    for a, b in zip(whole[1:], rest, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_sharding_refuses_more_processes_than_images_or_batch() -> None:
    with pytest.raises(ValueError, match="global batch size 2 must be at least the number of processes 3"):
        GlobalBatchSampler(10, 2, shuffle=False, world=3)
    with pytest.raises(ValueError, match="2 images cannot be shared among 3"):
        GlobalBatchSampler(2, 6, shuffle=False, world=3)


# ------------------------------------------------------------------------------------------ on the device


def test_finish_without_augmentation_is_the_in_memory_normalization() -> None:
    x = torch.randint(0, 256, (2, 3, 5, 4), dtype=torch.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    torch.testing.assert_close(finish_batch(x, mean, std), normalize(x, mean, std))


def test_lighting_adds_one_pca_colour_shift_per_image() -> None:
    x = torch.randint(0, 256, (3, 3, 4, 4), dtype=torch.uint8)
    mean, std = (0.5,) * 3, (0.25,) * 3
    eigval, eigvec = torch.tensor([0.2, 0.02, 0.005]), torch.linalg.qr(torch.randn(3, 3))[0]
    out = finish_batch(x, mean, std, lighting=0.1, pca=(eigval, eigvec), gen=torch.Generator().manual_seed(5))
    alpha = torch.randn(3, 3, generator=torch.Generator().manual_seed(5)) * 0.1
    shift = (alpha * eigval) @ eigvec.T / 0.25
    torch.testing.assert_close(out - normalize(x, mean, std), shift.view(3, 3, 1, 1).expand(3, 3, 4, 4))
    with pytest.raises(ValueError, match="lighting noise needs the PCA"):
        finish_batch(x, mean, std, lighting=0.1)


def test_photometric_jitter_keeps_a_grey_image_grey_and_changes_colour_ones() -> None:
    grey = torch.full((4, 3, 2, 2), 100, dtype=torch.uint8)
    out = finish_batch(grey, (0.0,) * 3, (1.0,) * 3, jitter=0.4, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(
        out, out[:, :1].expand_as(out)
    )  # brightness moves it; saturation has nothing to move
    assert not torch.allclose(out, grey.float() / 255)


def test_colour_statistics_are_estimated_from_the_training_images(tmp_path: Path) -> None:
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        _jpeg(tmp_path / "train" / f"c{i}" / "a.jpg", 40, 30, 0, colour)
    s = stream_splits(tmp_path, augment="alexnet", crop=16)
    assert s.mean == pytest.approx((0.5, 0.0, 0.5), abs=0.02) and s.std[0] == pytest.approx(0.5, abs=0.02)
    assert s.pca[0].argmax() == 2 and s.val is None and s.image_size == (3, 16, 16)
    torch.testing.assert_close(
        s.pca[1][:, 2].abs(), torch.tensor([1, 0, 1]) / math.sqrt(2), atol=0.02, rtol=0
    )


# --------------------------------------------------------------------- end to end: 1 and 2 processes


def _train_and_eval(rank: int, world: int, root: str, out: str) -> None:
    """One epoch of ResNet-18 on the streaming path (DDP under gloo when world > 1), then every protocol."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import convzoo
    from convzoo.data.protocols import PROTOCOLS, evaluate_protocol

    if world > 1:
        torch.set_num_threads(1)  # two spawned processes share the cores
        dist.init_process_group("gloo", init_method=f"file://{out}/pg", rank=rank, world_size=world)
    splits = stream_splits(root, augment="resnet", crop=32)
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=len(splits.classes))
    net = DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen, seen, batch = torch.Generator().manual_seed(0), [], 48
    for x, y, idx in splits.train_loader(batch, epoch=0, seed=0, rank=rank, world=world):
        loss = torch.nn.functional.cross_entropy(net(splits.finish(x, train=True, gen=gen)), y)
        (loss * len(y) * world / batch).backward()  # DDP averages: each image weighs 1/global batch
        opt.step()
        opt.zero_grad()
        seen += idx.tolist()
    fresh = convzoo.create_model("resnet18", num_classes=len(splits.classes))  # same weights on every rank
    result = {"seen": seen, "trained": {}, "fresh": {}}
    for p in PROTOCOLS:
        result["trained"][p] = evaluate_protocol(
            model, splits.val, p, splits.mean, splits.std, crop=32, rank=rank, world=world
        )
    for p in ("center", "dense"):
        torch.manual_seed(1)
        fresh = convzoo.create_model("resnet18", num_classes=len(splits.classes))
        result["fresh"][p] = evaluate_protocol(
            fresh, splits.val, p, splits.mean, splits.std, crop=32, rank=rank, world=world
        )
    Path(out, f"rank{rank}-of-{world}.json").write_text(json.dumps(result))
    if world > 1:
        dist.destroy_process_group()


@pytest.mark.slow
def test_resnet18_trains_and_evaluates_with_every_protocol_streamed_on_one_and_two_processes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "inet"
    rng = np.random.default_rng(0)
    wnids = [f"n{i:08d}" for i in range(20)]
    for c, w in enumerate(wnids):
        for j in range(12):
            a, b = rng.integers(40, 160, 2)
            _jpeg(root / "train" / w / f"{w}_{j}.JPEG", int(a), int(b), 100 * c + j)
    for c in range(4):  # a small flat val/ with the devkit's ground truth
        _jpeg(root / "val" / f"ILSVRC2012_val_{c + 1:08d}.JPEG", 50 + 10 * c, 45, 7000 + c)
    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True)
    _meta_mat(data / "meta.mat", wnids)
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{3 * c + 1}\n" for c in range(4)))
    out = tmp_path / "out"
    out.mkdir()
    _train_and_eval(0, 1, str(root), str(out))
    torch.multiprocessing.spawn(_train_and_eval, args=(2, str(root), str(out)), nprocs=2)
    one = json.loads((out / "rank0-of-1.json").read_text())
    two = [json.loads((out / f"rank{r}-of-2.json").read_text()) for r in range(2)]
    assert sorted(one["seen"]) == list(range(240))
    assert sorted(two[0]["seen"] + two[1]["seen"]) == list(range(240))  # every image once, no duplicates
    for p, m in one["trained"].items():
        assert m["images"] == 4 and math.isfinite(m["loss"]), p
        assert two[0]["trained"][p] == two[1]["trained"][p] and two[0]["trained"][p]["images"] == 4
    for p, m in one["fresh"].items():  # the same weights score the same whether one or two processes evaluate
        assert two[0]["fresh"][p] == pytest.approx(m, rel=1e-6), p  # batches of 2 vs 4
