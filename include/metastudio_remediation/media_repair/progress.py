"""Progress of a long repair: a callback the library calls, and the two ways the command shows it.

The library calls ``progress(Progress)`` at most every half per cent of the work and once at the
end; :class:`ProgressBar` redraws one line on a terminal, :class:`ProgressLines` prints a line at
every tenth of the work (log files and CI output stay short and readable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from metastudio_provider.media import format_duration


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` seconds of the output video written by ``step`` (``remux``, ``trim``, ``downscale``)."""

    step: str
    done: float
    total: float

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


class Throttle:
    """Calls ``callback`` when the work advanced by at least ``step`` (a fraction) since the last call, or ended."""

    def __init__(self, callback: ProgressCallback | None, label: str, total: float, step: float = 0.005) -> None:
        self.callback, self.label, self.total, self.step = callback, label, total, step
        self._last = -1.0

    def update(self, done: float) -> None:
        fraction = 1.0 if self.total <= 0 else done / self.total
        if self.callback is None or fraction - self._last < self.step:
            return  # called for every packet: decide before building anything
        report = Progress(self.label, done, self.total)
        self._last = report.fraction
        self.callback(report)

    def finish(self) -> None:
        if self.callback is not None and self._last < 1.0:
            self._last = 1.0
            self.callback(Progress(self.label, self.total, self.total))


def _text(report: Progress) -> str:
    return f"{report.step}: {format_duration(report.done)} of {format_duration(report.total)}"


class ProgressBar:
    """A one-line bar redrawn in place (for a terminal)."""

    WIDTH = 30

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def __call__(self, report: Progress) -> None:
        filled = round(self.WIDTH * report.fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        end = "\n" if report.fraction >= 1.0 else ""
        self.stream.write(f"\r[{bar}] {report.fraction:4.0%} {_text(report)}\x1b[K{end}")
        self.stream.flush()


class ProgressLines:
    """A line at each tenth of the work (for a log or a pipe)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self._tenth = -1

    def __call__(self, report: Progress) -> None:
        tenth = int(report.fraction * 10)
        if tenth > self._tenth:
            self._tenth = tenth
            self.stream.write(f"progress {report.fraction:4.0%} {_text(report)}\n")
            self.stream.flush()
