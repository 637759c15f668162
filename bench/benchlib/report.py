"""Medians of repeated runs and the tables the benchmarks print."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from .cases import Measurement
from .data import MiB


def median_of(
    runs: Sequence[Measurement], value: Callable[[Measurement], float | None]
) -> float | None:
    values = [v for v in (value(m) for m in runs if not m.error) if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a dash as wide as the spec asks."""
    if value is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "–".rjust(int(width or 0))
    return format(value, spec)


def mib(value: float | None) -> str:
    return "–" if value is None else f"{value / MiB:.0f} MiB"


def summary_row(runs: Sequence[Measurement]) -> dict[str, float | None]:
    """The medians of one case: each column's median on its own, over the runs without error."""
    return {
        "mbps": median_of(runs, lambda m: m.mbps()),
        "mbps_finished": median_of(
            runs, lambda m: m.mbps(m.seconds_finished) if m.seconds_finished else None
        ),
        "server_cpu_per_gib": median_of(runs, lambda m: m.per_gib(m.server_cpu)),
        "server_peak_rss": median_of(runs, lambda m: m.server_peak_rss),
        "client_cpu_per_gib": median_of(runs, lambda m: m.per_gib(m.client_cpu)),
        "server_minor_faults_per_gib": median_of(runs, lambda m: m.per_gib(m.server_minor_faults)),
        "others_cores": median_of(runs, lambda m: m.others_cores()),
        "runs": len(runs),
        "failed": sum(1 for m in runs if m.error),
    }


def table(title: str, rows: dict[str, dict[str, float | None]]) -> str:
    lines = [
        title,
        f"  {'case':<21}{'MB/s':>8}{'→finished':>11}{'server CPU s/GiB':>18}"
        f"{'server peak RSS':>17}{'faults/GiB':>12}{'client CPU s/GiB':>18}"
        f"{'others':>8}{'runs':>6}",
    ]
    for case, row in rows.items():
        failed = f" ({row['failed']} failed)" if row["failed"] else ""
        lines.append(
            f"  {case:<21}{fmt(row['mbps'], '8.0f')}{fmt(row['mbps_finished'], '11.0f')}"
            f"{fmt(row['server_cpu_per_gib'], '18.2f')}{mib(row['server_peak_rss']):>17}"
            f"{fmt(row['server_minor_faults_per_gib'], '12.0f')}"
            f"{fmt(row['client_cpu_per_gib'], '18.2f')}{fmt(row['others_cores'], '8.2f')}"
            f"{row['runs']:>6}{failed}"
        )
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def round_ratios(runs: dict[str, list[Measurement]], a: str, b: str) -> list[float]:
    """``a``'s MB/s over ``b``'s, round by round (each pair ran a minute apart at most)."""
    if a not in runs or b not in runs:
        return []
    pairs = zip(runs[a], runs[b], strict=True)  # every case ran once per round
    return [x.mbps() / y.mbps() for x, y in pairs if not (x.error or y.error) and y.mbps()]


def one_line(m: Measurement) -> str:
    """A progress line for one run, printed as soon as it is done."""
    if m.error:
        return f"  {m.case:<13} {m.uploads}×{m.size / MiB:.0f}MiB  FAILED: {m.error}"
    finished = f" (→finished {m.mbps(m.seconds_finished):.0f})" if m.seconds_finished else ""
    client = f", client CPU {m.per_gib(m.client_cpu):.2f} s/GiB" if m.client_cpu is not None else ""
    others = m.others_cores()
    noisy = f", OTHERS BUSY {others:.2f} cores" if others is not None and others > 0.2 else ""
    return (
        f"  {m.case:<13} {m.uploads}×{m.size / MiB:.0f}MiB  {m.mbps():7.0f} MB/s{finished}, "
        f"server CPU {m.per_gib(m.server_cpu):.2f} s/GiB, peak RSS {mib(m.server_peak_rss)}, "
        f"{m.per_gib(m.server_minor_faults):.0f} faults/GiB"
        f"{client}{noisy}"
    )
