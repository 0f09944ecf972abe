r"""Checkpoints that load with torch's weights-only unpickler, never running code.

A checkpoint is a dict of plain data written by ``torch.save``::

    {"format": "sdekit-checkpoint", "version": 1,
     "class": "sdekit_scores.nets.ScoreMLP",       # informative; never imported
     "config": {...},                               # the model's plain constructor arguments
     "scaled": bool,                                # output divided by a forward SDE's std
     "state_dict": {...},                           # tensors
     "extra": {...}}                                # the caller's plain metadata

:func:`load_checkpoint` reads it with ``torch.load(path, weights_only=True)``,
whose unpickler only rebuilds tensors and plain containers: a file whose
unpickling would import or call anything else (``os.system``, ``exec``, any
class) is refused with :class:`CheckpointError` before any of it runs. Objects
that are not plain data (a forward SDE, a ``std`` callable) are therefore not
stored; pass them again when rebuilding (``load_checkpoint(ScoreMLP, path, sde=vp)``).

Example
-------
>>> import os, tempfile, torch
>>> from sdekit_scores.nets import ScoreMLP
>>> net = ScoreMLP(2, hidden=16, depth=1, seed=3)
>>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
>>> save_checkpoint(net, path, extra={"steps": 0})
>>> net2 = load_checkpoint(ScoreMLP, path)
>>> bool(torch.equal(net2(0.3, torch.ones(2, 2)), net(0.3, torch.ones(2, 2))))
True
"""

from __future__ import annotations

import os
import pickle

import torch

from sdekit.errors import InvalidArgumentError, SDEKitError

FORMAT = "sdekit-checkpoint"
VERSION = 1
_PLAIN = (str, int, float, bool, type(None))


class CheckpointError(SDEKitError, RuntimeError):
    """A checkpoint cannot be saved or loaded safely (unsafe pickle, wrong format, mismatched model)."""


def _check_plain(obj, where):
    if isinstance(obj, _PLAIN) or torch.is_tensor(obj):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"{where} has a key of type {type(k).__name__}; keys must be str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise CheckpointError(
        f"{where} holds a {type(obj).__name__}, which weights-only loading cannot restore; "
        "store only str/int/float/bool/None, tensors, and lists/dicts of them"
    )


def save_checkpoint(model, path, *, extra=None):
    r"""Write ``model``'s weights, plain config and ``extra`` metadata to ``path``.

    The file holds plain data only (checked before writing), so
    :func:`load_checkpoint` can read it with weights-only loading. ``model.config``
    (if present, as on :class:`~sdekit_scores.nets.ScoreMLP`) is stored so the
    model can be rebuilt from its class.

    >>> import io, torch
    >>> from sdekit_scores.nets import ScoreMLP
    >>> buf = io.BytesIO()
    >>> save_checkpoint(ScoreMLP(2, hidden=8, depth=1), buf)
    >>> sorted(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    ['class', 'config', 'extra', 'format', 'scaled', 'state_dict', 'version']
    """
    if not isinstance(model, torch.nn.Module):
        raise InvalidArgumentError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    _check_path(path)
    config = getattr(model, "config", {}) or {}
    if not isinstance(config, dict):
        raise CheckpointError(f"model.config must be a dict of plain data; got {type(config).__name__}")
    if extra is not None and not isinstance(extra, dict):
        raise InvalidArgumentError(f"extra must be a dict of plain data or None; got {type(extra).__name__}")
    config, extra = dict(config), dict(extra or {})
    _check_plain(config, "model.config")
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config": config,
        "scaled": bool(getattr(model, "scaled", False)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    if isinstance(path, (str, os.PathLike)):
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(payload, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint under the real name
    else:
        torch.save(payload, path)


def _check_path(path):
    if not (isinstance(path, (str, os.PathLike)) or hasattr(path, "read") or hasattr(path, "write")):
        raise InvalidArgumentError(f"path must be a file path or a file-like object; got {type(path).__name__}")


def _check_payload(payload, path):
    """The checkpoint dict's fields have the types the format says, before any of them is used."""
    version = payload.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"checkpoint {path!r} has a malformed version {version!r}")
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this sdekit reads up to {VERSION}")
    for key, kind in (("config", dict), ("state_dict", dict), ("extra", dict), ("scaled", bool)):
        if key in payload and not isinstance(payload[key], kind):
            raise CheckpointError(f"checkpoint {path!r} field {key!r} must be a {kind.__name__}; "
                                  f"got {type(payload[key]).__name__}")
    if not all(isinstance(k, str) for k in payload.get("config", {})):
        raise CheckpointError(f"checkpoint {path!r} config keys must be strings")
    state = payload.get("state_dict", {})
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise CheckpointError(f"checkpoint {path!r} state_dict must map names to tensors")
    return payload


def _culprit(err):
    """The line of torch's weights-only error that names the forbidden global, if any."""
    for line in str(err).splitlines():
        line = line.strip()
        if "Unsupported" in line or "GLOBAL" in line:
            return line.split(" was not an allowed")[0].replace("WeightsUnpickler error: ", "")
    return type(err).__name__


def read_checkpoint(path, *, map_location="cpu"):
    r"""The checkpoint's dict, read with ``torch.load(..., weights_only=True)``.

    A file that needs anything beyond tensors and plain containers to unpickle
    (e.g. a pickle that would call ``os.system``) raises :class:`CheckpointError`
    and none of its code runs. A bare ``state_dict`` file is returned wrapped as
    ``{"state_dict": ..., "config": {}, ...}``.
    """
    _check_path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refusing to load checkpoint {path!r}: it is not plain weights; unpickling it would need to "
            f"import or call code ({_culprit(e)}), which weights-only loading forbids. Nothing from the file "
            "was executed. Only load such a file with torch.load(weights_only=False) if you trust its source"
        ) from e
    except (RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {e}") from e
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        return _check_payload(payload, path)
    if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
        return {"format": FORMAT, "version": VERSION, "class": None, "config": {}, "scaled": False,
                "state_dict": payload, "extra": {}}
    raise CheckpointError(f"{path!r} is neither an sdekit checkpoint nor a state_dict "
                          f"(got {type(payload).__name__})")


def load_checkpoint(model_or_cls, path, *, map_location="cpu", strict=True, **kwargs):
    r"""Load weights into a model instance, or build one from a class and the stored config.

    Parameters
    ----------
    model_or_cls : an ``nn.Module`` instance (weights are loaded into it) or a
        module class (``cls(**config, **kwargs)`` is built, then loaded)
    path : file path or file-like object
    map_location : passed to ``torch.load`` (default ``"cpu"``)
    strict : passed to ``load_state_dict``
    **kwargs : constructor arguments that are not plain data (``sde=``, ``std=``)
        or that override the stored config (class form only)

    Returns the model (in eval mode is *not* forced; the caller decides).
    ``model.checkpoint_extra`` holds the stored ``extra`` dict.

    Raises :class:`CheckpointError` for an unsafe pickle, a foreign file, a
    missing ``sde=`` for a model trained with std scaling, or mismatched weights.
    When the class can count its state from a configuration (``cls.state_size(**config)``,
    as :class:`~sdekit_scores.nets.ScoreMLP` can), the count must equal the stored
    weights' before the model is built: a crafted config cannot trigger a huge allocation.

    >>> import io
    >>> from sdekit_scores.nets import ScoreMLP
    >>> buf = io.BytesIO(); save_checkpoint(ScoreMLP(3, hidden=8, depth=1), buf); _ = buf.seek(0)
    >>> load_checkpoint(ScoreMLP, buf).d
    3
    """
    payload = read_checkpoint(path, map_location=map_location)
    if isinstance(model_or_cls, type):
        if not issubclass(model_or_cls, torch.nn.Module):
            raise InvalidArgumentError(f"model_or_cls must be an nn.Module or its class; got {model_or_cls!r}")
        if payload.get("scaled") and not any(kwargs.get(k) is not None for k in ("sde", "std")):
            raise CheckpointError(
                f"checkpoint {path!r} was saved from a model whose output is scaled by a forward SDE's std; "
                "pass the same sde= (or std=) to load_checkpoint to rebuild it"
            )
        config = {**payload.get("config", {}), **kwargs}
        counter = getattr(model_or_cls, "state_size", None)
        if callable(counter):
            try:
                want = int(counter(**config))
            except (TypeError, ValueError) as e:
                raise CheckpointError(f"checkpoint {path!r}: the stored config does not describe a "
                                      f"{model_or_cls.__name__}: {e}") from e
            have = sum(int(v.numel()) for v in payload["state_dict"].values())
            if want != have:
                raise CheckpointError(f"checkpoint {path!r}: its config describes a {model_or_cls.__name__} with "
                                      f"{want} values but the file stores {have}; refusing to build it")
        try:
            model = model_or_cls(**config)
        except (TypeError, InvalidArgumentError) as e:
            raise CheckpointError(f"cannot build {model_or_cls.__name__} from the stored config: {e}") from e
    elif isinstance(model_or_cls, torch.nn.Module):
        if kwargs:
            raise InvalidArgumentError(f"constructor arguments {sorted(kwargs)} only apply when a class is given")
        model = model_or_cls
    else:
        raise InvalidArgumentError(
            f"model_or_cls must be an nn.Module instance or class; got {type(model_or_cls).__name__}")
    try:
        model.load_state_dict(payload["state_dict"], strict=strict)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path!r} does not match the model: {e}") from e
    model.checkpoint_extra = payload.get("extra", {})
    return model


__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointError"]
