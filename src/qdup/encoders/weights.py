"""Weights as safetensors: checked names, shapes and values on the way in; no pickles."""

from __future__ import annotations

from pathlib import Path

import safetensors
import safetensors.torch
import torch

from ..errors import ModelLoadError


def read_weights(path: Path, expected: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """A safetensors file whose names and shapes are ``expected`` (checked from its header
    before reading), with finite values only."""
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            found = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except FileNotFoundError:
        raise ModelLoadError(f"{path.parent}: {path.name} is missing") from None
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise ModelLoadError(f"{path}: corrupt or truncated weights ({type(error).__name__})") from None
    if expected != found:
        wrong = sorted(set(expected.items()) ^ set(found.items()))
        raise ModelLoadError(f"{path}: weights do not match config.json ({wrong[0][0]} differs)")
    try:
        tensors = safetensors.torch.load_file(str(path))
    except Exception as error:
        raise ModelLoadError(f"{path}: corrupt or truncated weights ({type(error).__name__})") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelLoadError(f"{path}: weight {name} holds NaN or infinite values")
    return tensors


def weights_bytes(network: torch.nn.Module, copy: bool = False) -> bytes:
    """The state dict as safetensors bytes; ``copy`` separates tensors that share memory
    (tied weights), which safetensors refuses."""
    state = network.state_dict()
    return safetensors.torch.save({name: (t.detach().cpu().clone() if copy else t.detach().contiguous())
                                   for name, t in state.items()})
