"""A run folder owned by one process: the lock, the checkpoints it may touch, and what a resume may change.

``runs/<name>/`` holds ``.convzoo-run`` (the marker that makes it a convzoo run), ``.lock`` (an OS file lock
held while a process trains in it; it dies with the process), ``config.json`` (what ran), ``metrics.csv``,
``curves.png``, ``resumes.jsonl`` (one line per resume: the step and the settings it changed) and
``checkpoints/``. The rules:

- one writer: a second process is refused with the holder's PID;
- a non-empty folder that is not a convzoo run is refused, so no user file is overwritten;
- temporary files left by a killed writer are removed at the next start (the lock proves them stale);
- only checkpoints written by this process are ever pruned, the newest of them never, and no complete
  checkpoint is overwritten (new ones take numbers above every folder on disk);
- a missing or dangling ``checkpoints/latest`` resumes from the newest complete checkpoint on disk, said so;
- a resume compares the saved configuration with the new one (:func:`compare_configs`).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convzoo.train.checkpoint import atomic_output, atomic_write_text, is_complete
from convzoo.trust_read import RejectedFile, read_jsonl
from convzoo.trust_write import TEMP_PREFIX, check_inside, open_lock, temp_writer, write_file

__all__ = [
    "ACCEPTED_ON_RESUME",
    "RunFolder",
    "RunFolderBusy",
    "RunFolderError",
    "compare_configs",
    "run_folder_path",
]

MARKER = ".convzoo-run"
LOCK = ".lock"
MAX_RESUME_LOG = 16 << 20  # bytes of resumes.jsonl: some 80,000 resumes
_CKPT = re.compile(r"ckpt_([0-9]{6})")
# names our atomic writers give their temporary files and folders (checkpoint.atomic_output, save_checkpoint)
_TEMP = re.compile(rf"\..+\.tmp|\.tmp_ckpt_.+|\.curves\.tmp\.png|{re.escape(TEMP_PREFIX)}.+")

# Settings a resume may change: they do not touch a single number of the training. Everything else in the
# configuration must match, except a longer run (recipe.epochs / recipe.iterations), which the trainer checks.
ACCEPTED_ON_RESUME = frozenset(
    {
        "eval_every",
        "checkpoint_every",
        "checkpoint_minutes",
        "max_epochs",
        "threads",
        "workers",  # a streamed image's augmentation depends on (seed, epoch, image) only
        "progress",
        "device",
        "compile",  # as a device change: the same computation, fused (not bit-identical)
        "data_root",
        "download",
        "skip_bad_images",  # the data themselves are compared image count by image count
        "resume",
        "out_dir",
        "name",
        "recipe.name",  # descriptions, not settings: every value they describe is compared
        "recipe.source",
        "recipe.summary",
        "recipe.note",
    }
)
LENGTH_FIELDS = frozenset({"recipe.epochs", "recipe.iterations"})


class RunFolderError(RuntimeError):
    """A run folder that cannot be used as asked; the message names the folder and the cause."""


class RunFolderBusy(RunFolderError):
    """Another process holds the run folder's lock: ``path``, held by ``holder`` (the PID in the lock file)."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        super().__init__(
            f"{path} is in use by another convzoo process (PID {holder}); wait for it to finish, "
            "or train into another --name"
        )


def run_folder_path(out_dir: str | os.PathLike[str], name: str) -> Path:
    """``out_dir/name``, with ``name`` a single folder name, so the run stays inside ``out_dir``."""
    bad = (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
    )
    if bad:
        raise ValueError(
            f"--name {name!r} must be a single folder name inside --out {out_dir} "
            "(no path separators, no '..', not absolute)"
        )
    return Path(out_dir) / name


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in cfg.items() if k != "recipe"}
    flat.update({f"recipe.{k}": v for k, v in (cfg.get("recipe") or {}).items()})
    return flat


def compare_configs(saved: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """Field-by-field differences of two ``TrainConfig.to_dict()`` (JSON-normalised) configurations.

    Returns the refused fields (as ``field: old -> new`` lines) and the accepted ones (field → [old, new]);
    the length fields are returned as accepted for the caller to check against the steps already taken.
    """
    old, cur = _flatten(saved), _flatten(new)
    refused, accepted = [], {}
    for key in sorted(set(old) | set(cur)):
        a, b = old.get(key), cur.get(key)
        if a == b:
            continue
        if key in ACCEPTED_ON_RESUME or key in LENGTH_FIELDS:
            accepted[key] = [a, b]
        else:
            refused.append(f"{key.replace('recipe.', '')}: {a!r} -> {b!r}")
    return refused, accepted


class RunFolder:
    """The run folder of one training process. Use :meth:`open`, and ``with`` to release the lock."""

    def __init__(self, path: Path, say: Callable[[str], None] = print) -> None:
        self.path = path
        self.ckpt_dir = path / "checkpoints"
        self.say = say
        self.written: list[Path] = []  # checkpoints this process wrote, oldest first
        self._lock_fd: int | None = None

    # --- ownership

    @classmethod
    def open(cls, path: Path, say: Callable[[str], None] = print) -> RunFolder:
        """Take the folder: refuse a foreign non-empty folder or a second writer, then clean stale temps."""
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a run folder; choose another --name")
        if path.is_dir() and not cls.is_run(path) and any(path.iterdir()):
            raise RunFolderError(
                f"{path} is not empty and is not a convzoo run folder (no {MARKER}); convzoo will not write "
                "into it, so nothing there is overwritten. Choose another --name or --out"
            )
        path.mkdir(parents=True, exist_ok=True)
        if os.path.islink(path / MARKER) or not (path / MARKER).is_file():  # a link is refused, never touched
            write_file(path / MARKER, b"", inside=path)  # before the lock, so a kill between leaves a run folder
        run = cls(path, say)
        run._lock()
        try:
            run._clean_stale_temps()
        except BaseException:
            run.close()
            raise
        return run

    @staticmethod
    def is_run(path: Path) -> bool:
        """A folder convzoo made: the marker, or (older runs) a checkpoints folder with a complete checkpoint."""
        ckpts = path / "checkpoints"
        return (path / MARKER).exists() or (
            ckpts.is_dir() and any(is_complete(p) for p in ckpts.glob("ckpt_*"))
        )

    def _lock(self) -> None:
        fd = open_lock(self.path / LOCK)  # never through a link: the PID is written into this very file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderBusy(self.path, holder) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (the OS releases it too if the process dies)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _clean_stale_temps(self) -> None:
        for folder in (self.path, self.ckpt_dir):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if not _TEMP.fullmatch(p.name):
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                self.say(f"note: removed {p}, left by a run that was killed while writing it")

    # --- checkpoints

    def checkpoints(self) -> list[Path]:
        """Every complete checkpoint folder on disk, oldest first."""
        if not self.ckpt_dir.is_dir():
            return []
        return sorted(p for p in self.ckpt_dir.iterdir() if _CKPT.fullmatch(p.name) and is_complete(p))

    def latest(self) -> Path | None:
        """The checkpoint to resume from: the one ``checkpoints/latest`` names, else the newest complete one.

        A pointer whose content is not a checkpoint name is refused (:class:`convzoo.trust.RejectedFile`).
        """
        from convzoo.trust import latest_pointer_target

        target = latest_pointer_target(check_inside(self.path, self.ckpt_dir))
        if target is not None and is_complete(target):
            return self._inside(target)
        found = self.checkpoints()
        if not found:
            return None
        why = "is missing" if target is None else f"names {target.name}, which is not a complete checkpoint"
        self.say(f"note: {self.ckpt_dir / 'latest'} {why}; using the newest complete checkpoint {found[-1]}")
        return self._inside(found[-1])

    def _inside(self, ckpt: Path) -> Path:
        """``ckpt``, refused if a link leads its files out of the run folder (nothing is read through one)."""
        for name in ("model.safetensors", "state.pt"):
            check_inside(self.path, ckpt / name)
        return ckpt

    def next_index(self) -> int:
        """A checkpoint number above every ``ckpt_*`` on disk, so no existing folder is ever replaced."""
        if not self.ckpt_dir.is_dir():
            return 1
        used = [int(m.group(1)) for p in self.ckpt_dir.iterdir() if (m := _CKPT.fullmatch(p.name))]
        return max(used, default=0) + 1

    def save(self, save: Callable[..., Path], *args: Any, keep: int = 2) -> Path:
        """Write the next checkpoint with ``save(ckpt_dir, *args, index=n)``; prune this process's older ones.

        ``save`` is :func:`convzoo.train.checkpoint.save_checkpoint` (passed in so tests can watch it).
        """
        path = save(check_inside(self.path, self.ckpt_dir), *args, index=self.next_index())
        self.written.append(path)
        for old in self.written[: max(0, len(self.written) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
        self.written = self.written[-keep:]
        return path

    def check_free_space(self, nbytes: int) -> None:
        """Refuse to start when a checkpoint of about ``nbytes`` (twice: the new one beside the last) cannot
        fit."""
        free = shutil.disk_usage(self.path).free
        if free < 2 * nbytes:
            raise OSError(
                errno.ENOSPC,
                f"not enough free space in {self.path}: a checkpoint needs about {nbytes / 2**20:.1f} MiB "
                f"(twice that while the next one is written), {free / 2**20:.1f} MiB are free",
            )

    # --- the run's records

    def _write(self, name: str, text: str) -> None:
        path = self.path / name
        try:
            atomic_write_text(path, text, inside=self.path)
        except OSError as e:
            full = " (the disk is full)" if e.errno == errno.ENOSPC else ""
            raise OSError(
                e.errno, f"cannot write {path}{full}: {e.strerror or e}; {path} is unchanged"
            ) from e

    def write_config(self, config: dict[str, Any]) -> None:
        self._write("config.json", json.dumps(config, indent=2, default=str) + "\n")

    def record_resume(self, step: int, checkpoint: Path, changes: dict[str, list[Any]]) -> None:
        """Append one line to ``resumes.jsonl``: when, from where, and the settings that changed."""
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "step": step,
            "checkpoint": checkpoint.name,
            "changed": changes,
        }
        path = self.path / "resumes.jsonl"
        old = self._resume_log(check_inside(self.path, path))
        self._write(path.name, old + json.dumps(line, default=str) + "\n")

    def _resume_log(self, path: Path) -> str:
        """The lines of ``resumes.jsonl`` so far, read by convzoo.trust_read: a garbage or cut-short line is
        dropped and a log that cannot be read at all is started afresh, each said so; it never blocks a resume."""
        if not path.exists() and not path.is_symlink():
            return ""
        try:
            log = read_jsonl(path, cap_bytes=MAX_RESUME_LOG, what="the resume log", skip_bad=True)
        except RejectedFile as e:
            self.say(f"note: {e}; starting a new resume log")
            return ""
        for skipped in log.skipped:
            self.say(f"note: {path}: {skipped}; the line is dropped from the resume log")
        return "".join(json.dumps(v) + "\n" for v in log.values)

    def write_metrics(self, rows: list[dict[str, Any]], plot: bool) -> None:
        """``metrics.csv`` (and ``curves.png`` if ``plot``), each replaced atomically."""
        if not rows:
            return
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
        self._write("metrics.csv", buf.getvalue())
        if plot:
            with atomic_output(self.path / "curves.png", inside=self.path) as tmp:
                plot_metrics(rows, tmp)


@temp_writer
def plot_metrics(rows: list[dict[str, Any]], path: Path) -> None:
    """Training curves: loss and top-1 error per epoch, and the learning rate (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for split in ("train", "val", "test"):
        if f"{split}_loss" in rows[0]:
            axes[0].plot(ep, [r.get(f"{split}_loss", math.nan) for r in rows], marker=".", label=split)
            axes[1].plot(ep, [r.get(f"{split}_err", math.nan) for r in rows], marker=".", label=split)
    axes[2].plot(ep, [r["lr"] for r in rows], marker=".")
    for ax, title in zip(axes, ("loss", "top-1 error (%)", "learning rate (end of epoch)"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)
