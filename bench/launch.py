#!/usr/bin/env python3
"""Run one command and report its wall time, CPU time and peak RSS as JSON (for bench/run.py).

    python bench/launch.py OUT.json [--cap-mib N] -- CMD ARG...

A small launcher of its own, importing nothing heavy, because Linux carries a process's
peak RSS across `exec`: a child forked straight from the harness (which holds parsed
results, Polars and the reference numbers) would report the harness's peak as its own.
Forked from this small process, the child's `ru_maxrss` is its own (at least this
launcher's ~10 MiB). With --cap-mib, a child whose resident memory passes N MiB is
killed (and reported as `capped`) before it can push the machine into the OOM killer.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watch(pid: int, cap_mib: float, capped: list[bool], done: threading.Event) -> None:
    # never reaps the child (no poll/wait here): main's wait4 must get its rusage
    while not done.wait(0.05):
        if rss_mib(pid) > cap_mib:
            capped.append(True)
            os.kill(pid, signal.SIGKILL)
            return


def main() -> int:
    out, *rest = sys.argv[1:]
    cap = None
    if rest[:1] == ["--cap-mib"]:
        cap, rest = float(rest[1]), rest[2:]
    sep, *cmd = rest
    assert sep == "--" and cmd, "usage: launch.py OUT.json [--cap-mib N] -- CMD ARG..."
    busy0, total0 = busy_jiffies()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    capped: list[bool] = []
    done = threading.Event()
    if cap:
        threading.Thread(target=watch, args=(proc.pid, cap, capped, done), daemon=True).start()
    stderr = proc.stderr.read()  # to the end, so a chatty child cannot block on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    wall = time.perf_counter() - start
    busy1, total1 = busy_jiffies()
    # CPU the rest of the machine used meanwhile: all busy time minus the child's own,
    # as a share of every CPU's time over the run (a shared machine shows up here)
    tick = os.sysconf("SC_CLK_TCK")
    busy = (busy1 - busy0) / tick
    capacity = (total1 - total0) / tick
    foreign = max(0.0, busy - usage.ru_utime - usage.ru_stime) / capacity if capacity else 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
                   "maxrss_kib": usage.ru_maxrss, "rc": proc.returncode, "foreign_cpu": round(foreign, 4),
                   "capped": bool(capped), "cap_mib": cap,
                   "stderr": stderr.decode("utf-8", "replace")[-4000:]}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
