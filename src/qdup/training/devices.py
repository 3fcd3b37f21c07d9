"""Where training runs: a torch device name checked before any slow work."""

from __future__ import annotations

from ..errors import ConfigError


def check_device(name: str) -> str:
    """``name`` if torch knows the device and this machine has it; else a one-line error."""
    import torch  # only training commands pay for it

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r} (use cpu or cuda)") from None
    if device.type not in ("cpu", "cuda"):  # mps, xla, meta...: torch knows them, training does not run there
        raise ConfigError(f"device {name!r} is not supported (use cpu or cuda)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} is not available here (no CUDA GPU); use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} is not available here (CUDA GPUs: {torch.cuda.device_count()}, "
                          "cuda:0 the first)")
    return name
