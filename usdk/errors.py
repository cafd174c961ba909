"""The one error tree of usdk.

Tools (session builder, reader, correlator) raise subclasses of :class:`UsdkError`;
instrumentation (``@tracepoint``, point events) never raises into the application at
run time, it warns once and degrades to a no-op. Each subclass also inherits the
builtin that matches it where that helps callers (``except ValueError`` still works),
and carries structured data as attributes.

Example::

    try:
        usdk.Provider("bad name")
    except usdk.SchemaError as e:
        print(e)
"""

from __future__ import annotations

from collections.abc import Sequence


class UsdkError(Exception):
    """Root of every error usdk raises on purpose."""


# --- definition time (providers, events, decorators) -------------------------------


class SchemaError(UsdkError, ValueError):
    """A provider, event or field definition LTTng cannot accept (raised at definition time)."""


class ProviderBuildError(UsdkError, RuntimeError):
    """A tracepoint provider could not be compiled or loaded.

    Only raised by explicit build commands (``usdk build-provider``, ``Provider.build()``);
    at run time the same failure becomes a warning and the provider turns into a no-op.
    """

    def __init__(self, message: str, *, provider: str = "", log: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.log = log


class NativeVersionError(ProviderBuildError):
    """The compiled extension does not match the Python package (a stale build)."""


# --- session builder ----------------------------------------------------------------


class SessionError(UsdkError, RuntimeError):
    """Setting up, running or tearing down a tracing session failed."""


class CommandError(SessionError):
    """An external command (lttng, perf, ...) failed; carries argv, return code and stderr."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        detail = f"{message}\n  command: {' '.join(argv)}" if argv else message
        if stderr.strip():
            detail += f"\n  stderr: {stderr.strip()}"
        super().__init__(detail)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class BackendUnavailableError(SessionError):
    """A requested kernel backend (lttng-modules, linux-perf) or privilege is missing."""


class UnknownEventError(SessionError, ValueError):
    """An event, syscall or counter name that does not exist; carries close matches."""

    def __init__(self, message: str, *, name: str = "", suggestions: Sequence[str] = ()) -> None:
        if suggestions:
            message += f" (did you mean: {', '.join(suggestions)}?)"
        super().__init__(message)
        self.name = name
        self.suggestions = list(suggestions)


class OutputExistsError(SessionError, FileExistsError):
    """The output directory already holds a trace; usdk never overwrites one."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


# --- reader and correlator -------------------------------------------------------------


class TraceError(UsdkError):
    """A trace could not be read."""


class TraceNotFoundError(TraceError, FileNotFoundError):
    """The path is not a trace (empty, missing, or no CTF metadata below it)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class CorruptTraceError(TraceError, ValueError):
    """A stream or metadata file is damaged; names the file and byte offset."""

    def __init__(self, message: str, *, path: str = "", offset: int | None = None) -> None:
        where = f"{path}" + (f" at offset {offset}" if offset is not None else "")
        super().__init__(f"{message} ({where})" if where else message)
        self.path = path
        self.offset = offset


class CorrelationError(UsdkError):
    """The correlator cannot build the requested table or report from this trace."""


# --- warnings ----------------------------------------------------------------------------


class UsdkWarning(RuntimeWarning):
    """Instrumentation degraded (untraced, coerced value, field left out); never an exception.

    Silence with ``warnings.filterwarnings("ignore", category=usdk.UsdkWarning)``.
    """
