"""Per-connection upload rate limit: how long to hold a connection's reads to keep it at a rate.

OBS gives one connection a bounded rate; parallel part uploads are how a client fills its link.
The sandbox imitates that with ``--upload-rate-mbps``: each upload body is read no faster than
the rate. The arithmetic lives here, apart from the socket code, so it can be tested with a
fake clock.
"""

from __future__ import annotations


def mbps_to_bytes_per_second(mbps: float) -> float:
    """Megabits per second (10^6 bits, as link speeds are quoted) to bytes per second."""
    return mbps * 1_000_000 / 8


class Pacer:
    """A virtual link of ``rate`` bytes per second that one body has to pass through.

    The server reads a chunk from the socket, then calls :meth:`take`, which returns how long to
    stop reading so that the body so far took at least as long as the link needs for it. A link
    does not bank the time it was idle: after a stall (the client paused, or the machine was busy)
    at most ``burst`` seconds' worth of bytes pass without waiting, as on a real connection.
    """

    def __init__(self, bytes_per_second: float, started: float, burst: float = 0.1) -> None:
        if bytes_per_second <= 0:
            raise ValueError(f"upload rate must be positive, got {bytes_per_second} bytes/s")
        self.rate = bytes_per_second
        self.burst = burst
        self._free_at = started  # when the link will have carried every byte taken so far

    def take(self, size: int, now: float) -> float:
        """Account ``size`` bytes read at ``now``; returns the seconds to wait before reading more."""
        self._free_at = max(self._free_at, now - self.burst) + size / self.rate
        return max(0.0, self._free_at - now)
