"""User-facing errors: one readable line naming the problem and the valid choices.

``LabError`` is raised for anything a user can fix (a bad override, a missing checkpoint, a
broken file); the CLI prints its message and exits with status 2, without a stack trace.
"""

from __future__ import annotations


class LabError(Exception):
    """An error in the user's input: printed as one line, exit status 2."""
