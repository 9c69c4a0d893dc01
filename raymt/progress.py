"""Progress lines, with the time left, for the long work done before Ray starts.

Why: building the tiny base (or a back-translation pool, or tokenising a large corpus) takes
from seconds to many minutes on a laptop, with nothing else on the screen. A line every few
seconds, "what: 40% (480/1200 steps), 31 s so far, about 46 s left", says the search has not
hung and when it will start. The estimate is the simplest one (the rate so far), as tqdm's.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Counts ``total`` units of ``what``; logs at most every ``every_s`` seconds, and at the end
    of work that took that long (work done sooner prints nothing)."""

    def __init__(
        self,
        what: str,
        total: int,
        *,
        unit: str = "steps",
        log: Callable[[str], None] = print,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.unit, self.log, self.every_s, self.clock = what, max(int(total), 1), unit, log, every_s, clock
        self.done = 0
        self.started = self._last = clock()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        now = self.clock()
        if now - self._last >= self.every_s or (self.done == self.total and now - self.started >= self.every_s):
            self._last = now
            self.log(self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.started
        head = f"{self.what}: {100 * self.done / self.total:.0f}% ({self.done}/{self.total} {self.unit}), {_seconds(elapsed)} so far"
        if self.done >= self.total:
            return head + ", done"
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        return head + (f", about {_seconds(left)} left" if self.done else "")


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
