"""What this machine's CPU can do: the instruction-set features that decide which kernels run."""

from __future__ import annotations

__all__ = ["CPU_FEATURES", "cpu_features"]

# The instruction-set features that decide which kernels run: AVX-512 doubles the fp32 vector width over
# AVX2; VNNI does int8 multiply-accumulate in one instruction (without it int8 GEMMs gain little over
# fp32); BF16 and AMX are what a bf16 or AMX int8 path needs. Each is a set of /proc/cpuinfo flags, any
# of which counts (AVX-VNNI is the 256-bit form on CPUs without AVX-512).
CPU_FEATURES = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f",),
    "VNNI": ("avx512_vnni", "avx_vnni"),
    "BF16": ("avx512_bf16",),
    "AMX": ("amx_tile", "amx_int8", "amx_bf16"),
}


def cpu_features(flags: set[str] | None = None) -> dict[str, bool]:
    """Which of :data:`CPU_FEATURES` this CPU has (from ``flags``, default /proc/cpuinfo; all False
    where it cannot be read)."""
    if flags is None:
        flags = set()
        try:
            with open("/proc/cpuinfo") as handle:
                line = next((line for line in handle if line.startswith("flags")), "")
            flags = set(line.split(":", 1)[-1].split())
        except OSError:
            pass
    return {name: any(flag in flags for flag in names) for name, names in CPU_FEATURES.items()}
