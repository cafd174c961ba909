"""Channels: the ring buffers a tracing session records into, one config per domain.

A channel decides how much memory a domain gets (sub-buffer size x count), what happens
when it fills (``DISCARD`` new events, counted as discarded, or ``OVERWRITE`` the oldest,
the flight-recorder mode snapshots need) and how UST applications behave when it is full
(``blocking_timeout_us``). Example::

    from usdk.channel import ChannelConfig, OverflowPolicy

    big = ChannelConfig(name="usdk", subbuf_size=4 << 20, num_subbuf=8)
    ring = big.replace(overflow=OverflowPolicy.OVERWRITE)

The LTTng command lines come from :meth:`ChannelConfig.lttng_args` (see
``man lttng-enable-channel``).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct
from pathlib import Path


class Domain(enum.Enum):
    """An LTTng tracing domain."""

    UST = "userspace"
    KERNEL = "kernel"
    PYTHON = "python"

    @property
    def flag(self) -> str:
        """The lttng command-line option selecting this domain."""
        return {"userspace": "--userspace", "kernel": "--kernel", "python": "--python"}[
            self.value
        ]


class OverflowPolicy(enum.Enum):
    """What a full channel does with the next event."""

    DISCARD = "discard"  # keep the old events, count the new ones as discarded
    OVERWRITE = "overwrite"  # drop the oldest sub-buffer (flight recorder, snapshots)


class BufferSharing(enum.Enum):
    """UST buffer ownership: one set per user (default) or one per process."""

    PER_UID = "uid"
    PER_PID = "pid"


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclasses.dataclass(frozen=True)
class ChannelConfig:
    """One LTTng channel.

    ``subbuf_size`` is in bytes (a power of two, at least the page size); ``num_subbuf``
    a power of two; ``blocking_timeout_us`` (UST only) makes a writer wait that long for
    room instead of discarding (``None``: never wait, ``-1``: wait forever).
    ``switch_timer_us`` flushes partly filled sub-buffers periodically so low-rate
    streams still reach disk.
    """

    name: str = "usdk"
    subbuf_size: int = 1 << 20
    num_subbuf: int = 8
    overflow: OverflowPolicy = OverflowPolicy.DISCARD
    buffers: BufferSharing = BufferSharing.PER_UID
    blocking_timeout_us: int | None = None
    switch_timer_us: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"channel name {self.name!r}: use letters, digits, '_' or '-'")
        if not _is_power_of_two(self.subbuf_size) or self.subbuf_size < 4096:
            raise ValueError(
                f"subbuf_size {self.subbuf_size}: must be a power of two >= 4096 bytes"
            )
        if not _is_power_of_two(self.num_subbuf):
            raise ValueError(f"num_subbuf {self.num_subbuf}: must be a power of two")

    def replace(self, **changes: object) -> ChannelConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def lttng_args(self, domain: Domain, session: str) -> list[str]:
        """``lttng enable-channel`` argv for this channel in ``domain``."""
        argv = [
            "lttng",
            "enable-channel",
            domain.flag if domain is not Domain.PYTHON else Domain.UST.flag,
            f"--session={session}",
            f"--subbuf-size={self.subbuf_size}",
            f"--num-subbuf={self.num_subbuf}",
            f"--{self.overflow.value}",
        ]
        if domain is not Domain.KERNEL:
            argv.append(f"--buffers-{self.buffers.value}")
            if self.blocking_timeout_us is not None:
                argv.append(f"--blocking-timeout={self.blocking_timeout_us}")
        if self.switch_timer_us is not None:
            argv.append(f"--switch-timer={self.switch_timer_us}")
        argv.append(self.name)
        return argv

    def advice(self) -> str:
        """The setting that would have avoided discarded events in this channel."""
        return (
            f"channel {self.name!r} ({self.num_subbuf} x {self.subbuf_size} B): "
            f"use a bigger buffer, e.g. subbuf_size={self.subbuf_size * 4} "
            f"(--subbuf-size {self.subbuf_size * 4}), or blocking_timeout_us for UST"
        )


# The channel the LTTng Python agent records into; its name is fixed by the agent.
PYTHON_CHANNEL = "lttng_python_channel"


# --- what a channel lost, read back from the trace's index files -------------------------

_INDEX_MAGIC = 0xC1F1DCC1


def index_stats(trace_dir: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """{channel: {discarded_events, lost_packets, packets}} from LTTng's ``index/*.idx``.

    Each LTTng stream has an index (CTF index 1.1, big-endian u64 fields) whose
    ``events_discarded`` is the stream's running count of discarded events and whose
    ``packet_seq_num`` gaps are lost packets. Reading them needs no session daemon (and
    avoids ``lttng --mi xml list SESSION``, which crashes lttng-sessiond 2.13.9 on
    sessions with event-name exclusions).
    """
    out: dict[str, dict[str, int]] = {}
    for idx in sorted(Path(trace_dir).glob("**/index/*.idx")):
        data = idx.read_bytes()
        if len(data) < 16:
            continue
        magic, major, minor, entry_len = struct.unpack(">IIII", data[:16])
        if magic != _INDEX_MAGIC or entry_len < 56:
            continue
        discarded = 0
        lost = 0
        packets = 0
        last_seq: int | None = None
        for pos in range(16, len(data) - entry_len + 1, entry_len):
            fields = struct.unpack_from(f">{entry_len // 8}Q", data, pos)
            packets += 1
            discarded = max(discarded, fields[5])
            if len(fields) >= 9:
                seq = fields[8]
                if last_seq is not None and seq > last_seq + 1:
                    lost += seq - last_seq - 1
                last_seq = seq
        channel = idx.stem.rsplit("_", 1)[0]
        s = out.setdefault(channel, {"discarded_events": 0, "lost_packets": 0, "packets": 0})
        s["discarded_events"] += discarded
        s["lost_packets"] += lost
        s["packets"] += packets
    return out
