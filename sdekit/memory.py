"""Up-front size checks: refuse a solve whose arrays cannot fit before allocating or computing anything.

The limit is the machine's physical memory (``os.sysconf``), or the environment
variable ``SDEKIT_MAX_BYTES`` when set (e.g. to keep a shared machine safe).

>>> from sdekit.memory import check_allocation
>>> check_allocation(1 << 20, "a small array")       # fine: returns the byte count
1048576
"""

from __future__ import annotations

import os

from .errors import InvalidArgumentError


def memory_limit() -> int:
    """Bytes a single solve may allocate: ``SDEKIT_MAX_BYTES`` or the physical memory."""
    env = os.environ.get("SDEKIT_MAX_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise InvalidArgumentError(f"SDEKIT_MAX_BYTES must be a number of bytes; got {env!r}") from None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def _fmt(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"  # pragma: no cover


def check_allocation(nbytes, what: str) -> int:
    """Raise :class:`~sdekit.errors.InvalidArgumentError` when ``nbytes`` exceed :func:`memory_limit`."""
    nbytes = int(nbytes)
    limit = memory_limit()
    if nbytes > limit:
        raise InvalidArgumentError(
            f"{what} would need {_fmt(nbytes)}, more than the {_fmt(limit)} this machine allows "
            "(physical memory, or SDEKIT_MAX_BYTES); save fewer times (save_at), solve fewer paths per call "
            "(sk.ensemble streams them), or use float32")
    return nbytes
