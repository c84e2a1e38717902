"""Argument checks, called once at each public entry: one line per argument.

A wrong *type* raises ``TypeError``, a wrong value ``ValueError``; NumPy numbers pass,
``bool`` is never a number. Each returns the value: ``k = positive_int("k", k)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np



def _name_of(value: Any) -> str:
    return f"{type(value).__name__}: {value!r}"


def integer(name: str, value: Any) -> int:
    """``value`` as an ``int``; ``TypeError`` unless it is an integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {_name_of(value)}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """An ``int`` of at least 1."""
    value = integer(name, value)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def non_negative_int(name: str, value: Any) -> int:
    """An ``int`` of at least 0 (a seed, a count that may be zero)."""
    value = integer(name, value)
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value}")
    return value


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite number in ``[low, high]`` (ends open with ``low_open``/``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {_name_of(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in {left}{lo}, {hi}{right}, got {value:g}")
    return value


def fraction(name: str, value: Any) -> float:
    """A number strictly between 0 and 1 (a share of the data)."""
    return number(name, value, low=0.0, high=1.0, low_open=True, high_open=True)


def one_of(name: str, value: Any, options: Iterable[Any]) -> Any:
    """``value`` itself, if it is one of ``options``; ``ValueError`` naming them otherwise."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def positions(name: str, values: Any, n: int, *, what: str | None = None) -> np.ndarray:
    """A 1-D ``int64`` array of positions in ``[0, n)`` (of ``what``: "users", "items")."""
    what = what or name
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must be integer positions of {what} "
                        f"(helpers.data.encode turns ids into positions), got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= n):
        raise ValueError(f"{name}: positions of {what} must lie in [0, {n}), "
                         f"got {values.min()}..{values.max()}")
    return values.astype(np.int64, copy=False)


def pairs(users: Any, items: Any, n_users: int, n_items: int, *,
          names: tuple[str, str] = ("users", "items")) -> tuple[np.ndarray, np.ndarray]:
    """Two equally long position arrays: ``users`` in ``[0, n_users)``, ``items`` in ``[0, n_items)``."""
    users = positions(names[0], users, n_users, what="users")
    items = positions(names[1], items, n_items, what="items")
    if users.shape != items.shape:
        raise ValueError(f"{names[0]} and {names[1]} must be of equal length (one pair each), "
                         f"got {len(users)} and {len(items)}")
    return users, items
