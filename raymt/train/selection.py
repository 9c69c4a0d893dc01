"""Best-epoch selection and patience: which evaluation a trial's result is, and when to stop.

Why a trial reports its *best* evaluation and keeps that checkpoint (the "load best model at
end" habit of HF ``Trainer``): BLEU often peaks before the last epoch, and a search that ranks
trials by their last epoch punishes the configurations that learn fastest. Patience is the
classic early stopping of Prechelt (1998, "Early stopping - but when?"): stop after ``patience``
evaluations without improvement. Kept apart from the worker loop so the rule is tested on
constructed BLEU sequences without Ray.
"""

from __future__ import annotations

import math


class BestEpoch:
    """Tracks the best evaluation so far (``record`` dicts with ``epoch`` and ``bleu``)."""

    def __init__(self, patience: int | None, best: dict | None = None):
        self.patience = patience
        self.best = best

    def observe(self, record: dict) -> bool:
        """Take one evaluation; True when it is the new best (ties keep the earlier one)."""
        bleu = record.get("bleu")
        if bleu is None or not math.isfinite(bleu):
            return False
        if self.best is None or bleu > self.best["bleu"]:
            self.best = dict(record)
            return True
        return False

    def exhausted(self, epoch: int) -> bool:
        """True when ``patience`` evaluations have passed without a new best."""
        return self.patience is not None and self.best is not None and epoch - self.best["epoch"] >= self.patience
