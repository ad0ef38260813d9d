"""Human durations for the CLI: ``90d``, ``24h``, ``1h30m``, ``2w``, ``45s``."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw])")
MAX_DAYS = 36500
"""The longest duration taken (100 years): a date further away does not fit a datetime."""


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes. Raises ValueError with the accepted forms."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or _PART.sub("", cleaned):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit, s m h d w, e.g. 90d, 24h, 1h30m"
        )
    seconds = sum(int(n) * UNITS[unit] for n, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if seconds > MAX_DAYS * UNITS["d"]:
        raise ValueError(f"{text!r} is too long: the most is {MAX_DAYS}d (100 years)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse, for messages: 90 minutes -> ``"1h30m"``."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
