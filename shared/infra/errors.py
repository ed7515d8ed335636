"""What the launcher raises when the local infrastructure cannot be brought up.

LauncherError             root: something in shared.infra could not do its job
├── ToolNotFound          a required executable (java, mvn, caddy) is not installed
├── StartupFailed         a server exited or did not become ready; the message ends
│                         with the tail of its log, which is usually the real reason
└── StateConflict         the state directory is in use in a way that contradicts the
                          request (a server already runs there on another port)
"""

from __future__ import annotations


class LauncherError(Exception):
    """Root of every error shared.infra raises on purpose."""


class ToolNotFound(LauncherError):
    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"{tool} not found: {hint}")
        self.tool = tool


class StartupFailed(LauncherError):
    def __init__(self, what: str, reason: str, log_tail: str = "") -> None:
        message = f"{what} did not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of its log ---\n{log_tail}"
        super().__init__(message)
        self.what = what
        self.reason = reason
        self.log_tail = log_tail


class StateConflict(LauncherError):
    """A state directory already hosts a running server that does not match the request."""
