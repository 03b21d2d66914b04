"""Model complexity: parameters, MACs, peak memory and latency (conventions.md).

* **MACs** are counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which
  counts 2 FLOPs per multiply-accumulate of matrix products and convolutions
  (``mm``, ``addmm``, ``bmm``, ``convolution``, attention kernels, ...); semcom reports
  ``MACs = FLOPs / 2``. Element-wise work (bias adds, activations, normalizations,
  quantization) is not counted, as in the published MAC counts.
* **Peak memory** is the largest amount of memory allocated *during* the call on top of
  what was already allocated when it started (weights and inputs are not included; see
  :attr:`ComplexityReport.parameter_bytes`). On CUDA it is
  ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``. On CPU,
  ``tracemalloc`` does not see torch's allocator and ``ru_maxrss`` only ever rises, so
  semcom runs the call under the (non-Kineto) autograd profiler with
  ``profile_memory=True`` and takes the maximum of the running sum of its allocation
  and free events, in time order, from every thread. Memory that torch does not
  allocate (NumPy arrays, Python objects) is not seen.
* **Latency** is the median wall-clock time of ``repeats`` calls after ``warmup``
  calls, with CUDA synchronized around each call; the report states the device and
  torch's intra-op thread count, and measurements use batch 1 by convention.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count

from semcom.errors import SemcomError

__all__ = [
    "ComplexityReport",
    "count_macs",
    "count_parameters",
    "encoder_decoder_costs",
    "measure_complexity",
    "median_latency",
    "parameter_bytes",
    "peak_memory",
]


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_flash_attention_flops(query: Any, key: Any, value: Any, *args: Any,
                               out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs of CPU's fused attention, which ``FlopCounterMode`` does not count by itself:
    the two matrix products, as for the GPU kernels."""
    return sdpa_flop_count(query, key, value)  # the counter hands over shapes


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_bytes(module: nn.Module) -> int:
    """Bytes held by the module's parameters and buffers."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def count_macs(module_or_fn: Callable[..., Any], *inputs: Any, **kwargs: Any) -> int:
    """Multiply-accumulates of one call ``module_or_fn(*inputs, **kwargs)`` under
    ``torch.no_grad()``: ``FlopCounterMode``'s FLOPs / 2 (see the module docstring)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module_or_fn(*inputs, **kwargs)
    return int(counter.get_total_flops()) // 2


def _device_of(inputs: tuple[Any, ...], module: Any = None) -> torch.device:
    for x in inputs:
        if isinstance(x, Tensor):
            return x.device
    if isinstance(module, nn.Module):
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_peak_bytes(fn: Callable[[], Any]) -> int:
    with torch.autograd.profiler.profile(profile_memory=True, use_kineto=False) as prof:
        fn()
    try:
        events = [
            e
            for e in prof.kineto_results.events()
            if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
        ]
        events.sort(key=lambda e: e.start_ns())
        live = peak = 0
        for e in events:
            live += e.nbytes()
            peak = max(peak, live)
    except AttributeError as exc:  # profiler internals changed in a newer torch
        raise SemcomError(
            f"CPU peak memory is unavailable with torch {torch.__version__}: {exc}"
        ) from None
    return int(peak)


def peak_memory(
    fn: Callable[..., Any],
    *args: Any,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> int:
    """Peak bytes allocated by ``fn(*args, **kwargs)`` above what was allocated before.

    Args:
        fn: the call to measure (run once).
        device: where it allocates; default: the device of the first tensor argument,
            else CPU. CUDA uses the caching allocator's statistics, CPU the profiler's
            allocation events (module docstring).

    Returns:
        Bytes (int, >= 0).
    """
    dev = torch.device(device) if device is not None else _device_of(args)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        fn(*args, **kwargs)
        torch.cuda.synchronize(dev)
        return max(0, int(torch.cuda.max_memory_allocated(dev)) - int(before))
    if dev.type != "cpu":
        raise SemcomError(f"peak memory is measured on cpu or cuda, not {dev.type}")
    return _cpu_peak_bytes(lambda: fn(*args, **kwargs))


def median_latency(
    fn: Callable[..., Any],
    *args: Any,
    warmup: int = 3,
    repeats: int = 10,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> float:
    """Median wall-clock seconds of ``fn(*args, **kwargs)`` over ``repeats`` timed calls
    after ``warmup`` untimed ones; CUDA is synchronized before and after each call.

    Raises:
        SemcomError: ``warmup < 0`` or ``repeats < 1``.
    """
    if int(warmup) < 0 or int(repeats) < 1:
        raise SemcomError(
            f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}"
        )
    dev = torch.device(device) if device is not None else _device_of(args)
    for _ in range(int(warmup)):
        fn(*args, **kwargs)
    times = []
    for _ in range(int(repeats)):
        _synchronize(dev)
        start = time.perf_counter()
        fn(*args, **kwargs)
        _synchronize(dev)
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))


@dataclass(frozen=True)
class ComplexityReport:
    """Complexity of one forward pass (e.g. an encoder at one Kodak image, 1x3x512x768).

    Attributes:
        name: what was measured (``"encoder"``, ``"decoder"``, ...).
        input_shapes: shapes of the tensor inputs.
        parameters: parameter count.
        parameter_bytes: bytes of parameters and buffers.
        macs: multiply-accumulates (FLOPs / 2) of one call.
        peak_memory_bytes: peak allocation during the call, on top of weights and inputs.
        latency_s: median seconds per call.
        device: where it ran (``"cpu"``, ``"cuda:0"``), with the GPU name if any.
        threads: torch intra-op CPU threads.
        warmup, repeats: latency protocol.
    """

    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    parameters: int
    parameter_bytes: int
    macs: int
    peak_memory_bytes: int
    latency_s: float
    device: str
    threads: int
    warmup: int
    repeats: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/CSV (shapes as lists)."""
        out = asdict(self)
        out["input_shapes"] = [list(s) for s in self.input_shapes]
        return out

    def __str__(self) -> str:
        shapes = ", ".join("x".join(str(d) for d in s) for s in self.input_shapes)
        return (
            f"{self.name} @ {shapes}: {self.parameters / 1e6:.3f} M params, "
            f"{self.macs / 1e9:.3f} GMACs, peak {self.peak_memory_bytes / 2**20:.1f} MiB, "
            f"{self.latency_s * 1e3:.2f} ms median of {self.repeats} "
            f"({self.device}, {self.threads} threads)"
        )


def measure_complexity(
    module: nn.Module,
    *inputs: Any,
    name: str | None = None,
    warmup: int = 3,
    repeats: int = 10,
    **kwargs: Any,
) -> ComplexityReport:
    """Parameters, MACs, peak memory and median latency of ``module(*inputs, **kwargs)``.

    The module is put in eval mode and every call runs under ``torch.no_grad()``.
    Pass batch-1 inputs (the convention) on the device to measure.
    """
    dev = _device_of(inputs, module)
    module.eval()

    def forward() -> Any:
        with torch.no_grad():
            return module(*inputs, **kwargs)

    # latency first: its warm-up runs any one-time initialization before memory is measured
    latency_s = median_latency(forward, warmup=warmup, repeats=repeats, device=dev)
    peak_bytes = peak_memory(forward, device=dev)
    device = str(dev)
    if dev.type == "cuda":
        device = f"{dev} ({torch.cuda.get_device_name(dev)})"
    return ComplexityReport(
        name=name or type(module).__name__,
        input_shapes=tuple(tuple(x.shape) for x in inputs if isinstance(x, Tensor)),
        parameters=count_parameters(module),
        parameter_bytes=parameter_bytes(module),
        macs=count_macs(module, *inputs, **kwargs),
        peak_memory_bytes=peak_bytes,
        latency_s=latency_s,
        device=device,
        threads=torch.get_num_threads(),
        warmup=int(warmup),
        repeats=int(repeats),
    )


def _decoder_input(model: Any, enc: Any, snr_db: Tensor) -> Any:
    """What ``model.decode`` receives for ``enc`` in ``forward``: the masked symbols sent
    through AWGN (zeros where nothing was sent), equalized unless the model
    ``receives = "channel_output"``. The channel's randomness is seeded (0)."""
    from semcom.channels import AWGN

    channel = AWGN().to(enc.symbols.device)
    generator = torch.Generator(device=enc.symbols.device).manual_seed(0)
    return model.receive(channel, enc, snr_db, generator)


def encoder_decoder_costs(model: Any, images: Tensor, snr_db: Tensor, warmup: int = 1, repeats: int = 5,
                          **settings: Any) -> dict[str, float]:
    """MACs and median latency of a JSCC model's encoder and decoder at run-time settings.

    ``settings`` are validated against the model's declared ``settings``; the encoder
    receives its side's (and the link's) settings, the decoder its own, as in
    ``transmit``. The decoder is measured on what it receives in ``forward``: the
    encoder's symbols sent through AWGN at ``snr_db`` (only the sent ones of a
    variable-length model), equalized or as the channel output (``model.receives``),
    with the encoder's side information; the channel itself is not measured.

    Args:
        model: a :class:`~semcom.models.base.JSCCModel` (``encode``/``decode``).
        images: ``(1, 3, H, W)`` in ``[0, 1]`` (batch 1 by convention), H and W multiples
            of ``model.size_multiple``.
        snr_db: ``(1,)`` SNR in dB.
        warmup, repeats: latency protocol (see :func:`median_latency`).

    Returns:
        ``{"macs_encoder", "macs_decoder", "latency_encode_s", "latency_decode_s"}``.

    Raises:
        SemcomError: an unknown or invalid setting.
    """
    run = model.resolve_settings(**settings)
    enc_kw, dec_kw = run.encoder(), run.decoder()
    with torch.no_grad():
        enc = model.encode(images, snr_db, **enc_kw)
        received = _decoder_input(model, enc, snr_db)
        return {
            "macs_encoder": count_macs(model.encode, images, snr_db, **enc_kw),
            "macs_decoder": count_macs(model.decode, received, snr_db, enc.side, **dec_kw),
            "latency_encode_s": median_latency(model.encode, images, snr_db, warmup=warmup, repeats=repeats,
                                               **enc_kw),
            "latency_decode_s": median_latency(model.decode, received, snr_db, enc.side, warmup=warmup,
                                               repeats=repeats, **dec_kw),
        }
