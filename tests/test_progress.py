"""Progress lines of the work done before Ray starts: the share done and the time left."""

from raymt.progress import Progress


def test_progress_says_how_much_is_done_and_how_long_is_left_at_most_every_few_seconds():
    now = [0.0]
    lines: list[str] = []
    progress = Progress("tiny base pre-training", 100, log=lines.append, every_s=10, clock=lambda: now[0])
    for _ in range(30):  # 30 steps in 15 s: one line, after 10 s
        now[0] += 0.5
        progress.advance()
    assert lines == ["tiny base pre-training: 20% (20/100 steps), 10 s so far, about 40 s left"]
    for _ in range(70):
        now[0] += 0.5
        progress.advance()
    assert len(lines) == 5  # every 10 s; the last one at the end
    assert lines[-1] == "tiny base pre-training: 100% (100/100 steps), 50 s so far, done"


def test_long_waits_are_told_in_minutes():
    now = [0.0]
    lines: list[str] = []
    progress = Progress("tokenising", 4, unit="shards", log=lines.append, every_s=1, clock=lambda: now[0])
    now[0] = 300
    progress.advance()
    assert lines == ["tokenising: 25% (1/4 shards), 5 min so far, about 15 min left"]


def test_quick_work_prints_nothing():
    lines: list[str] = []
    progress = Progress("tokenising", 3, log=lines.append, every_s=10, clock=lambda: 1.0)
    for _ in range(3):
        progress.advance()
    assert lines == []
