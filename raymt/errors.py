"""User-facing errors.

Every mistake a user can make in a config, a corpus or a command line is raised as a
:class:`RaymtError` *before* any Ray work starts, so that a typo never costs cluster
time. The CLI prints ``str(err)`` (one line: where, what, fix) and exits with code 2,
without a traceback.
"""

from __future__ import annotations


class RaymtError(Exception):
    """An error the user can fix; ``where`` names the file/field, ``fix`` says how."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class ConfigError(RaymtError):
    """A config/search-space file is malformed or holds an impossible value."""


class DataError(RaymtError):
    """A corpus cannot be read or is unusable (mismatched, empty, undecodable)."""


class ResourceError(RaymtError):
    """A trial asks for resources no node of the cluster can ever provide."""


class RaymtDeprecationWarning(FutureWarning):
    """A spelling raymt still reads but will refuse in its next release (e.g. raymt 0.1's
    parameter names). A FutureWarning, so Python shows it to users by default; the CLI prints
    it as one line."""


class TrialFailed(RuntimeError):
    """The trial ran but could not produce a usable model (e.g. its loss diverged).

    Not a RaymtError: the input was valid and cluster time was spent; the CLI prints the reason
    and exits with 1, not 2. Defined here so the CLI can catch it without importing torch."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a search: its finished trials are kept, the results written so far, and
    ``raymt search --resume`` continues it. A KeyboardInterrupt, so a notebook stops as on
    any Ctrl-C; the CLI prints the resume command and exits with 130."""

    def __init__(self, experiment: str):
        self.experiment = experiment
        super().__init__(
            f"the search was interrupted; its finished trials are kept in {experiment}. Continue it with: raymt search --resume {experiment}"
        )
