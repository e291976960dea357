"""Timing and FLOP counting shared by the throughput benchmarks (``prior_throughput.py``, ``rhythm_speed.py``).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products, convolutions and
attention; normalisations and element-wise operations are not counted). The device's peak is measured with
a large matrix product (float32 on CPU, bfloat16 on CUDA, the precision training uses there).
"""

from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak(device: torch.device) -> tuple[float, str]:
    """Measured matmul FLOP/s of the device (float32 on CPU, bfloat16 on CUDA)."""
    wall, _, dtype = measure_peaks(device)
    return wall, dtype


def measure_peaks(device: torch.device) -> tuple[float, float, str]:
    """Matmul FLOP per wall-clock second and per process CPU-second (CPU; NaN on CUDA), and the dtype.

    The CPU-second figure is what the process gets from the cores it runs on, whatever else runs on the
    machine: the reference for rates that are also given per CPU-second.
    """
    n, dtype = (2048, torch.float32) if device.type == "cpu" else (8192, torch.bfloat16)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    times = [timed2(lambda: a @ b, device) for _ in range(8 if device.type == "cpu" else 50)]
    flop = 2 * n**3
    cpu = flop / min(c for _, c in times) if device.type == "cpu" else float("nan")
    return flop / min(t for t, _ in times), cpu, str(dtype).replace("torch.", "")


def timed(fn, device: torch.device) -> float:
    """Seconds of one call of ``fn`` (device synchronised)."""
    return timed2(fn, device)[0]


def timed2(fn, device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call of ``fn`` (device synchronised)."""
    sync(device)
    t, c = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t, time.process_time() - c


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())
