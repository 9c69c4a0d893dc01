"""The machine's load, printed beside every time a benchmark reports (times depend on it; BLEU,
bytes and memory do not): ``uptime``'s line, load averages included."""

from __future__ import annotations

import subprocess


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
