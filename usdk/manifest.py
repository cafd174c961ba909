"""The session manifest: ``DIR/usdk-manifest.json``, what a recording holds and lost.

Written by :class:`usdk.session.Session` when the session ends (also when it ends badly);
read by the trace reader and the correlator. Top-level keys (format ``usdk-session/1``)::

    format, session, mode, output, host{hostname,kernel,machine,boot_id},
    versions{usdk,lttng,perf,python}, clock{name,source,uuid,offset_ns},
    kernel_backend{requested,used,reason}, enabled{ust,python,ust_contexts,counters,kernel},
    layout{ust,kernel,perf_data,tasks}, channels[{domain,name,...,discarded_events,
    lost_packets | lost_samples}], events{ust,kernel}, start{iso,monotonic_ns},
    stop{iso,monotonic_ns}, command{argv,pid,exit_status,signal}, snapshots[], errors[]

Example::

    from usdk.manifest import read_manifest
    m = read_manifest("trace")
    print(m["kernel_backend"]["used"], m["command"]["exit_status"])
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

MANIFEST_NAME = "usdk-manifest.json"
FORMAT = "usdk-session/1"


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a session directory (raises FileNotFoundError when missing)."""
    with open(Path(directory) / MANIFEST_NAME) as f:
        result: dict[str, Any] = json.load(f)
    return result


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write atomically (tmp + rename) so readers never see half a manifest."""
    path = Path(directory) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)
    return path


def host_info() -> dict[str, str]:
    uname = platform.uname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return {"hostname": uname.node, "kernel": uname.release, "machine": uname.machine,
            "boot_id": boot}


def count_events(path: Path) -> int | None:
    """Events in the CTF trace(s) under ``path``, counted by babeltrace2's counter sink."""
    if not Path(path).exists():
        return None
    try:
        # the counter sink prints running totals every 10,000 events: the last is final
        r = subprocess.run(["babeltrace2", str(path), "-c", "sink.utils.counter"],
                           capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.findall(r"^\s*(\d+)\s+Event messages?$", r.stdout, re.M)
    return int(found[-1]) if r.returncode == 0 and found else None
