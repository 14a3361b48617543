"""An image folder as one file, to carry to a machine that cannot reach it (the lent GPU machine).

CIFAR-10's 60,000 JPEGs (55 MB of image bytes, 236 MB on disk as files) are packed byte for byte, undecoded,
into one file of about 56 MB, which travels with the working tree (64 MiB in all); on the other machine it
is unpacked into the same folder layout, which the trainer reads as usual (``CONVZOO_CIFAR10_JPG`` names it):

    python benchmarks/pack_images.py pack ../shared/datasets/cifar10-jpg .gpu_data/cifar10-jpg.pack
    python benchmarks/pack_images.py unpack .gpu_data/cifar10-jpg.pack /tmp/cifar10-jpg

The pack: a magic line, the byte length of the zlib-compressed JSON index (8 bytes, little-endian), the
index (``{"files": [[relative path, size], ...], "sha256": <of the image bytes>}``; 1.8 MB for CIFAR-10,
0.2 MB compressed), then the image bytes in the index's order. Unpacking trusts nothing in it: every path must
be ``train|test/<class>/<name>.<image suffix>``, the index must inflate to at most 64 MiB, the sizes must add
up to the bytes that follow, the checksum must match, and the files are written into a fresh folder that
replaces nothing (:func:`convzoo.trust_write.output_folder`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import struct
import sys
import zlib
from pathlib import Path

MAGIC = b"CONVZOO-IMAGE-PACK 1\n"
MAX_INDEX_BYTES = 64 << 20
SUFFIXES = (".jpg", ".jpeg", ".png")
_PATH = re.compile(r"(train|test)/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}\.(jpg|jpeg|png)")


class BadPack(ValueError):
    """A pack file that is not what :func:`pack` writes; the message names the file and the cause."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")


def _members(src: Path) -> list[str]:
    """The image files under ``src`` as sorted relative paths; anything else there is refused."""
    names = []
    for split in ("train", "test"):
        top = src / split
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(src).as_posix()
            if path.is_symlink():
                raise ValueError(f"{path}: is a symbolic link; packs hold only the folder's own files")
            if path.is_dir():
                continue
            if not _PATH.fullmatch(rel):
                raise ValueError(f"{path}: not train|test/<class>/<name>{'|'.join(SUFFIXES)}")
            names.append(rel)
    if not names:
        raise ValueError(f"{src}: no train/<class>/*.jpg or test/<class>/*.jpg files to pack")
    return names


def pack(src: Path, out: Path, force: bool = False) -> dict[str, int]:
    """Write the images under ``src`` into the one file ``out`` (a file there is replaced only if convzoo
    wrote it, or with ``force``)."""
    from convzoo.trust_write import output

    names = _members(src)
    blobs = [(src / n).read_bytes() for n in names]
    digest = hashlib.sha256()
    for b in blobs:
        digest.update(b)
    index = zlib.compress(json.dumps({"files": [[n, len(b)] for n, b in zip(names, blobs, strict=True)],
                                      "sha256": digest.hexdigest()}).encode(), 9)  # fmt: skip

    out.parent.mkdir(parents=True, exist_ok=True)
    with output(out, force=force) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(index)) + index)
        for b in blobs:
            f.write(b)
    return {"files": len(names), "image_bytes": sum(map(len, blobs)), "pack_bytes": out.stat().st_size}


def _read_index(path: Path, f) -> tuple[list[tuple[str, int]], str]:  # noqa: ANN001
    if f.read(len(MAGIC)) != MAGIC:
        raise BadPack(path, "not an image pack (its first line is not the pack's magic line)")
    raw = f.read(8)
    if len(raw) != 8 or not 0 < (n := struct.unpack("<Q", raw)[0]) <= MAX_INDEX_BYTES:
        raise BadPack(path, "its index length is missing or larger than 64 MiB")
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(f.read(n), MAX_INDEX_BYTES)
        if inflate.unconsumed_tail or not inflate.eof:
            raise BadPack(path, "its index is damaged or inflates past 64 MiB")
        index = json.loads(text)
        files = [(str(name), int(size)) for name, size in index["files"]]
        digest = str(index["sha256"])
    except BadPack:
        raise
    except (ValueError, KeyError, TypeError, zlib.error) as e:
        raise BadPack(path, f"its index is not the pack's JSON ({e})") from None
    for name, size in files:
        if not _PATH.fullmatch(name) or size < 0:
            raise BadPack(path, f"its index names {name!r} ({size} bytes): not train|test/<class>/<image>")
    if len({name for name, _ in files}) != len(files):
        raise BadPack(path, "its index names a file twice")
    return files, digest


def unpack(path: Path, dest: Path) -> int:
    """Write the pack's images under the new folder ``dest``; returns how many."""
    from convzoo.trust_write import output_folder

    with open(path, "rb") as f:
        files, digest = _read_index(path, f)
        body = f.read()
    if len(body) != sum(size for _, size in files):
        raise BadPack(path, f"holds {len(body)} image bytes, its index says {sum(s for _, s in files)} (truncated?)")
    if hashlib.sha256(body).hexdigest() != digest:
        raise BadPack(path, "its image bytes do not match the index's sha256")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with output_folder(dest, durable=False) as tmp:  # a copy: made again if lost
        at = 0
        for name, size in files:
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(body[at : at + size])
            at += size
    return len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack", help="an image folder (train/<class>/*, test/<class>/*) into one file")
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--force", action="store_true", help="replace a file at OUT that convzoo did not write")
    u = sub.add_parser("unpack", help="a pack into a new folder")
    u.add_argument("pack", type=Path)
    u.add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.verb == "pack":
            r = pack(args.src, args.out, args.force)
            print(f"{args.out}: {r['files']} images, {r['image_bytes'] / 1e6:.1f} MB of image bytes, "
                  f"{r['pack_bytes'] / 1e6:.1f} MB in all")  # fmt: skip
        else:
            print(f"{args.dest}: {unpack(args.pack, args.dest)} images")
    except (ValueError, OSError) as e:
        print(f"pack_images: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
