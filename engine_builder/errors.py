"""The one failure type the builder reports as `{"error": ...}`.

Anything that stops a build for a reason a person can act on is raised as BuildError with a
message written for `kubectl describe nimbuild`; `__main__` turns it into the result file, a
line on stderr and a non-zero exit. Other exceptions are bugs and are reported the same way,
with their type, so the Job still fails cleanly.
"""


class BuildError(Exception):
    """A build failed; `str(error)` is the message for the result file."""
