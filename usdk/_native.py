"""The one facade over usdk's native code: nothing else imports a cffi ``ffi``/``lib``.

It loads the built-in provider (``usdk._native_lib``) and typed provider modules lazily,
checks the build matches this package (a stale build is refused with the rebuild
command), calls lttng-ust's fork hooks around ``os.fork()``, and hands out plain Python
callables and state-word addresses. Every failure here becomes one :class:`UsdkWarning`
and a no-op: instrumentation never raises into the application.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from usdk import __version__, build, codegen
from usdk.errors import NativeVersionError, ProviderBuildError, UsdkWarning
from usdk.schema import EventSchema, schema_hash

_warned: set[str] = set()
_lock = threading.RLock()


def warn_once(key: str, message: str) -> None:
    """Warn once per process for each key (a broken environment must not flood logs)."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, UsdkWarning, stacklevel=3)


# --- the gate ---------------------------------------------------------------------------


class PyGate:
    """Pure-Python stand-in for usdk._gate.Gate, used only when the C module is missing."""

    def __init__(
        self,
        off: Callable[..., Any],
        on: Callable[..., Any],
        state0: Any = None,
        state1: Any = None,
    ) -> None:
        self.off_path, self.on_path = off, on
        self.bind(state0, state1 if state1 is not None else False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        on = _py_forced or self._s[0]() or self._s[1]()
        return (self.on_path if on else self.off_path)(*args, **kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        import types

        return self if obj is None else types.MethodType(self, obj)

    def bind(self, state0: Any, state1: Any = False) -> None:
        # None: not loaded yet, so the first call takes the tracing path (which loads)
        self._loaded = state0 is not None
        self._s = [(lambda: 1) if s is None else state_reader(s) for s in (state0, state1)]

    def set_on(self, on: Callable[..., Any]) -> None:
        self.on_path = on

    def set_point(self, *args: Any) -> None:  # the Python path does the same work
        pass

    set_span = set_point

    def clear_fast(self) -> None:
        pass

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def enabled(self) -> bool:
        return self._loaded and bool(self._s[0]() or self._s[1]())


_py_forced = False


try:
    from usdk._gate import Gate, next_span_id
    from usdk._gate import set_forced as _c_set_forced
    from usdk._gate import version as _gate_version

    if _gate_version != __version__:
        raise NativeVersionError(
            f"usdk._gate was built for usdk {_gate_version}, this is {__version__}"
        )
except (ImportError, NativeVersionError) as e:  # pragma: no cover - broken install only
    Gate = PyGate
    _c_set_forced = None
    import itertools

    next_span_id = itertools.count(1).__next__
    warn_once(
        "gate",
        f"usdk: the C gate is unavailable ({e}); tracing works but costs more per call. "
        "Rebuild with `make setup` (or `pip install --force-reinstall usdk`).",
    )


def set_forced(flag: bool) -> None:
    """Make every gate take its tracing path (usdk.testing.capture_events)."""
    global _py_forced
    _py_forced = flag
    if _c_set_forced is not None:
        _c_set_forced(flag)


# --- the built-in provider --------------------------------------------------------------

_builtin: Any = None
_builtin_failed = False


def _sessiond_running() -> bool:
    """Is any session daemon (root's or this user's) there for lttng-ust to register with?"""
    rundirs = ["/var/run/lttng"]
    home = os.environ.get("LTTNG_HOME") or os.path.expanduser("~")
    rundirs.append(os.path.join(home, ".lttng"))
    for rundir in rundirs:
        try:
            with open(os.path.join(rundir, "lttng-sessiond.pid")) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid > 0 and os.path.exists(f"/proc/{pid}"):
            return True
    return False


def builtin() -> Any:
    """The built-in provider's cffi ``lib``, loaded on first use; None when unavailable."""
    global _builtin, _builtin_failed
    if _builtin is not None or _builtin_failed:
        return _builtin
    with _lock:
        if _builtin is not None or _builtin_failed:
            return _builtin
        try:
            from usdk import _native_lib  # type: ignore[attr-defined]
        except ImportError as e:
            _builtin_failed = True
            warn_once(
                "native",
                f"usdk: tracing is off, the native provider cannot load ({e}). "
                "Install lttng-ust (apt-get install liblttng-ust1) and rebuild usdk "
                "(`make setup` or `pip install usdk`).",
            )
            return None
        version = _native_lib.ffi.string(_native_lib.lib.usdk_native_version()).decode()
        if version != __version__:
            _builtin_failed = True
            warn_once(
                "native",
                f"usdk: tracing is off, usdk._native_lib is a stale build ({version}, package "
                f"is {__version__}); rebuild with `make setup` or `pip install -e .`",
            )
            return None
        lib = _native_lib.lib
        os.register_at_fork(
            before=lib.usdk_before_fork,
            after_in_parent=lib.usdk_after_fork_parent,
            after_in_child=lib.usdk_after_fork_child,
        )
        if not _sessiond_running():
            warn_once(
                "sessiond",
                "usdk: no LTTng session daemon is running, so no event is recorded until one "
                "starts; start one with `lttng-sessiond --daemonize` (or record with "
                "`usdk record -- CMD`).",
            )
        _builtin = lib
        return lib


def builtin_state(event: str) -> int | bool:
    """Address of a built-in event's state word, or False when the provider is missing."""
    lib = builtin()
    return getattr(lib, f"usdk_state_{event}")() if lib is not None else False


def builtin_emitter(event: str) -> Callable[..., None] | None:
    lib = builtin()
    return getattr(lib, f"usdk_{event}") if lib is not None else None


# --- typed providers ----------------------------------------------------------------------


class LoadedGeneration:
    """One loaded shared object of a typed provider: emitters and state words by event name."""

    def __init__(self, module: ModuleType) -> None:
        self._lib = module.lib

    def emitter(self, event: str) -> Callable[..., None]:
        return getattr(self._lib, f"usdk_ev_{event}")

    def state(self, event: str) -> int:
        return getattr(self._lib, f"usdk_state_{event}")()

    def vector_emitter(self, event: str) -> int:
        """Address of the event's C function taking usdk._gate's argument array."""
        return getattr(self._lib, f"usdk_evv_addr_{event}")()


def load_generation(
    provider: str, events: Sequence[EventSchema], *, origin: str = "", strict: bool = False
) -> LoadedGeneration | None:
    """Find (or compile, once, into the cache) and load one provider generation.

    With strict=False (run time) a failure warns once and returns None; with strict=True
    (``usdk build-provider``, ``Provider.load(strict=True)``) it raises ProviderBuildError.
    """
    try:
        if builtin() is None:
            raise ProviderBuildError(
                "the built-in usdk provider is unavailable (see the earlier warning)",
                provider=provider,
            )
        digest = schema_hash(
            provider, list(events), version=f"{__version__}/{codegen.CODEGEN_VERSION}"
        )
        modname = build.module_name(provider, digest)
        path = build.find_built(modname)
        if path is None:
            path = build.compile_module(
                modname, provider, events, build.cache_dir() / "providers" / modname, origin=origin
            )
        return LoadedGeneration(build.load_module(modname, path))
    except Exception as e:
        if strict:
            raise
        log = getattr(e, "log", "")
        warn_once(
            f"provider:{provider}",
            f"usdk: provider {provider!r} is untraced: {e}"
            + (f"\n--- compiler output ---\n{log.strip()[-2000:]}" if log else ""),
        )
        return None


def state_reader(address: int | bool | None) -> Callable[[], int]:
    """A callable reading a tracepoint's state word (for paths that have no Gate)."""
    if not address:
        return lambda: 0
    from usdk import _native_lib  # type: ignore[attr-defined]

    ptr = _native_lib.ffi.cast("int *", address)
    return lambda: ptr[0]
