"""What the benchmark reads about a server process from /proc: CPU time and peak RSS."""

from __future__ import annotations

import os
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    """One reading of a process: CPU seconds so far and its peak resident set so far."""

    cpu_seconds: float
    peak_rss_bytes: int
    minor_faults: int  # fresh pages taken: docs/performance.rst: they were a third of the server's CPU


def sample(pid: int) -> ProcessSample:
    """Read utime+stime (/proc/PID/stat) and VmHWM (/proc/PID/status) of a live process.

    Threads are included (both count the whole thread group), children are not.
    """
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces; every field after its ")" is plain.
    fields = stat[stat.rindex(")") + 2 :].split()
    minflt = int(fields[7])  # field 10 of proc(5)
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    peak_kib = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak_kib = int(line.split()[1])
                break
    return ProcessSample((utime + stime) / _CLOCK_TICKS, peak_kib * 1024, minflt)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat, first line).

    Compared with what the server and client used over a run, it tells how much of the
    machine other processes took meanwhile: this VM is shared, and a busy neighbour makes a
    run worthless.
    """
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (utime+stime) of each thread of ``pid``, by thread id.

    The main thread's id is ``pid``: in twistd that is the reactor thread.
    """
    result = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        result[int(tid)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return result
