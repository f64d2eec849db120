"""Load a Kokoro weights file into the `kokoro` package's KModel, refusing files that do not fill it.

KModel's own loader falls back to `strict=False` and so accepts a file that leaves parameters at their
random initial values. `load_kmodel` builds the network empty (no hub access) and checks coverage:
every parameter and persistent buffer of the five parts must come from the file, except exactly the
`norm.weight` / `norm.bias` of each AdaIN's InstanceNorm1d, which the real files do not carry (the
package made that norm affine after training; left at 1 and 0 it equals no affine).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import torch

from ..builds.base import VersionSpec

if TYPE_CHECKING:  # importing kokoro is slow-ish; done on first load instead
    from kokoro.model import KModel

PARTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
PREFIX = "module."  # the training code's DataParallel wrapper, kept in every key of the real files

# How each known layout is called in error messages (wrapper key -> the generation that uses it).
_LAYOUT_NAMES = {None: "Kokoro v1.0", "net": "Kokoro v0.19"}


class WeightsError(RuntimeError):
    """The weights file cannot be read, or does not fit the network its config describes."""


def new_kmodel(config: Mapping, repo_id: str = "hexgrad/Kokoro-82M") -> "KModel":
    """A KModel with its initial (random) weights, built without touching the hub or any file."""
    from kokoro.model import KModel

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with warnings.catch_warnings():
        # Both are about the package's code, not ours: weight_norm's deprecation, LSTM dropout with 1 layer.
        warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="dropout option adds dropout", category=UserWarning)
        return KModel(repo_id=repo_id, config=dict(config), model=empty)


def adain_norm_keys(module: torch.nn.Module) -> set[str]:
    """State-dict keys of the InstanceNorm affine inside every AdaIN1d of `module` (absent from real files).

    AdaIN1d is defined in kokoro.istftnet only; kokoro.modules reuses it through AdainResBlk1d (its own
    AdaLayerNorm uses a plain layer norm without parameters).
    """
    from kokoro.istftnet import AdaIN1d

    keys: set[str] = set()
    for name, sub in module.named_modules():
        if isinstance(sub, AdaIN1d):
            base = f"{name}.norm." if name else "norm."
            keys.update((base + "weight", base + "bias"))
    return keys


def _describe_layout(wrapper_key: str | None) -> str:
    return _LAYOUT_NAMES.get(wrapper_key, f"a checkpoint wrapped in {wrapper_key!r}")


def _read(path: Path) -> object:
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files written without the zip format cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise WeightsError(f"weights file not found: {path}") from exc
    except Exception as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc


def _unwrap(spec: VersionSpec, data: object, path: Path) -> Mapping[str, Mapping[str, torch.Tensor]]:
    """The five parts of the file, after checking the file has the spec's layout."""
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path}: expected a dict of model parts, found {type(data).__name__}")
    # Which layout the file has: parts at the top level (None) or under a single wrapper key.
    if set(PARTS) & set(data):
        found = None
    elif len(data) == 1 and isinstance(next(iter(data.values())), Mapping):
        found = next(iter(data))
    else:
        raise WeightsError(f"{path}: no Kokoro model parts found (top-level keys: {_few(map(str, data))})")
    if found != spec.wrapper_key:
        has = f"has a {found!r} wrapper" if found else "has the model parts at its top level"
        raise WeightsError(
            f"{path}: this file {has}: it looks like a {_describe_layout(found)} checkpoint, "
            f"not {spec.version} ({_describe_layout(spec.wrapper_key)} layout expected)"
        )
    parts = data[found] if found else data
    missing = [p for p in PARTS if p not in parts]
    extra = sorted(set(parts) - set(PARTS))
    if missing or extra:
        raise WeightsError(
            f"{path}: expected exactly the parts {', '.join(PARTS)}; "
            f"missing: {missing or 'none'}, unknown: {extra or 'none'}"
        )
    return parts


def _few(keys) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:5]) + (f" (and {len(keys) - 5} more)" if len(keys) > 5 else "")


def _load_part(name: str, module: torch.nn.Module, state: Mapping, path: Path) -> None:
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path}: part {name!r} is {type(state).__name__}, not a state dict")
    state = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in state.items()}
    expected = module.state_dict()
    # Non-persistent buffers (e.g. ALBERT's `embeddings.position_ids`, a constant arange that older
    # transformers versions saved) are rebuilt by the module itself: tolerate and ignore them.
    rebuilt = {n for n, _ in module.named_buffers()} - set(expected)
    state = {k: v for k, v in state.items() if k not in rebuilt}

    unexpected = set(state) - set(expected)
    if unexpected:
        raise WeightsError(f"{path}: part {name!r} has keys the network does not have: {_few(unexpected)}")
    missing = set(expected) - set(state) - adain_norm_keys(module)
    if missing:
        raise WeightsError(f"{path}: part {name!r} lacks parameters: {_few(missing)}")
    wrong = [
        f"{k} {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__} "
        f"!= {tuple(expected[k].shape)}"
        for k, v in state.items()
        if not isinstance(v, torch.Tensor) or v.shape != expected[k].shape
    ]
    if wrong:
        raise WeightsError(f"{path}: part {name!r} has tensors of the wrong shape: {_few(wrong)}")
    module.load_state_dict(state, strict=False)  # coverage checked above


def load_kmodel(spec: VersionSpec, config: Mapping, weights_path: Path) -> "KModel":
    """Build the network `config` describes and fill it from `weights_path`, or raise WeightsError.

    The file must have `spec`'s layout: the five parts at the top level (`spec.wrapper_key` None, v1.0)
    or under `spec.wrapper_key` (v0.19: 'net'). Keys may carry the `module.` prefix. Every parameter
    must be present with the right shape, except the AdaIN norm affine (see the module docstring);
    unknown keys or parts are refused. Returns the model in eval mode on the CPU.
    """
    path = Path(weights_path)
    data = _read(path)
    parts = _unwrap(spec, data, path)
    model = new_kmodel(config, spec.repo_id)
    for name in PARTS:
        _load_part(name, getattr(model, name), parts[name], path)
    return model.eval()
