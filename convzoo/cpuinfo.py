"""What the CPU is and which low precisions it computes natively, from ``/proc/cpuinfo``: the one reader of
that file, without torch (the estimates of ``repro list`` use it before any model is built)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["NATIVE_FLAGS", "cpu_flags", "cpu_name", "native_bf16_cpu", "native_units"]

# The /proc/cpuinfo flags of native arithmetic in each low precision (AMX tiles or AVX-512 instructions).
NATIVE_FLAGS = {"bf16": ("amx_bf16", "avx512_bf16"), "fp16": ("amx_fp16", "avx512_fp16")}


def cpu_flags(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> tuple[set[str], str]:
    """The first CPU's feature flags and model name as the kernel reports them (empty set and "unknown CPU"
    where it does not)."""
    flags: set[str] = set()
    name = "unknown CPU"
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return flags, name
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and not flags:
            flags = set(value.split())
        elif key.strip() == "model name" and name == "unknown CPU":
            name = value.strip()
    return flags, name


def cpu_name() -> str:
    """The CPU's model name; where the kernel does not say, what the platform module does."""
    name = cpu_flags()[1]
    return name if name != "unknown CPU" else platform.processor() or platform.machine() or name


def native_units(dtype: str, flags: set[str]) -> list[str]:
    """The flags among ``flags`` that mark native arithmetic in ``dtype`` ("bf16" or "fp16")."""
    return [f for f in NATIVE_FLAGS[dtype] if f in flags]


def native_bf16_cpu(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> bool:
    """Whether the CPU has a native bf16 unit (AVX512-BF16 or AMX-BF16), from its flags; True where the flags
    cannot be read (not Linux), leaving the choice to oneDNN."""
    flags, _ = cpu_flags(cpuinfo)
    return not flags or bool(native_units("bf16", flags))
