"""What both benchmarks share: run a variant in a fresh child process, measure its memory and CPU,
print a table and keep the results as JSON."""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results")
MARK = "BENCH-RESULT "


def rss_mb() -> float:
    """Resident memory now (VmRSS), MB."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KB on Linux), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process, every thread (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of another process (the sandbox), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measure:
    """`with Measure() as m:` around the work; m.result() = wall, CPU and memory of the work.
    Measure(profile=N) also profiles the work and prints its top N functions to stderr."""

    def __init__(self, profile: int = 0):
        self.profiler = cProfile.Profile() if profile else None
        self.top = profile

    def __enter__(self) -> Self:
        self.rss_before, self.cpu0, self.t0 = rss_mb(), cpu_s(), time.perf_counter()
        if self.profiler:
            self.profiler.enable()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds, self.cpu = time.perf_counter() - self.t0, cpu_s() - self.cpu0
        if self.profiler:
            self.profiler.disable()
            text = io.StringIO()
            pstats.Stats(self.profiler, stream=text).sort_stats("cumulative").print_stats(self.top)
            print(text.getvalue(), file=sys.stderr)

    def result(self, **extra) -> dict:
        peak = peak_mb()
        return {"seconds": self.seconds, "cpu_seconds": self.cpu, "rss_before_mb": self.rss_before,
                "peak_rss_mb": peak, "rss_delta_mb": peak - self.rss_before, **extra}


def child_main(run) -> None:
    """In the child: run(spec) -> dict; print the result for the parent."""
    spec = json.loads(sys.argv[sys.argv.index("--child") + 1])
    print(MARK + json.dumps(run(spec)), flush=True)


def run_child(module: str, spec: dict, env: dict | None = None, timeout: float = 600) -> dict:
    """Run `python -m module --child spec` in a fresh interpreter; its stderr passes through."""
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**(env or os.environ), "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-m", module, "--child", json.dumps(spec)], cwd=PROJECT_ROOT, env=env,
                          stdout=subprocess.PIPE, text=True, timeout=timeout, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if not lines:
        raise RuntimeError(f"{module} {spec}: the child printed no result:\n{done.stdout[-2000:]}")
    return json.loads(lines[-1][len(MARK):])


def summarize(runs: list[dict], keys: tuple[str, ...]) -> dict:
    """Several runs of a variant: the first run's fields, the median of `keys`, the highest peak."""
    medians = {k: statistics.median(r[k] for r in runs) for k in keys if runs[0].get(k) is not None}
    out = {**runs[0], **medians, "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
           "seconds_all": [r["seconds"] for r in runs]}
    out["rss_delta_mb"] = out["peak_rss_mb"] - out["rss_before_mb"]
    return out


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """columns: (heading, key, format); a missing value prints as '-'."""
    cells = [[h for h, _, _ in columns]] + [
        [format(r[k], f) if r.get(k) is not None else "-" for _, k, f in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def code_version() -> str:
    """The commit measured, marked when the code under test had uncommitted changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "assets", "resources", "sandbox")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + (" + uncommitted changes" if dirty else "")


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamp = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "code": code_version()}
    path.write_text(json.dumps(rounded({**stamp, **data}), indent=1) + "\n")
    return path


def rounded(value):
    """Floats to 4 significant places for the JSON file, recursively."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
