#!/usr/bin/env python3
"""Draws the results of scripts/load.sh as PNG pictures.

    python3 scripts/load_charts.py target/load/results.jsonl target/load/charts

Reads the JSON lines load.sh records and writes, into the output directory:

- throughput.png: warm-path requests/s against concurrent connections, one
  line per signing algorithm, one panel per database; the cold path (every
  request a BCrypt verification) beside it;
- latency.png: warm-path p50 and p99 latency against connections, per
  algorithm and database (log scale);
- paced.png: p50/p99 of the warm path paced at 70 % of its best rate, per
  algorithm and database, against the 5 ms goal.

Needs matplotlib (Debian: python3-matplotlib). Draws only what the results
hold: a run with SKIP_PG=1 has no PostgreSQL panels.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

ALG_COLOURS = {"RS256": "tab:blue", "ES256": "tab:orange", "EdDSA": "tab:green"}
DB_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def databases(rows: list[dict]) -> list[str]:
    seen = [r["db"] for r in rows if "db" in r]
    return [db for db in DB_TITLES if db in seen]


def series(rows: list[dict], kind: str, db: str) -> dict[str, list[dict]]:
    """The rows of one kind and database by algorithm, sorted by connections."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["kind"] == kind and r.get("db") == db:
            out[r.get("alg", "")].append(r)
    for points in out.values():
        points.sort(key=lambda r: r["conns"])
    return dict(out)


def connections_axis(ax, rows: list[dict]) -> None:
    """Ticks at the measured connection counts, written as plain numbers."""
    conns = sorted({r["conns"] for r in rows})
    if conns and max(conns) / min(conns) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(conns, [str(c) for c in conns])
    ax.minorticks_off()
    ax.set_xlabel("concurrent connections")


def subtitle(machine: dict[str, str]) -> str:
    parts = [machine.get("cpu"), f"{machine['cores']} cores" if "cores" in machine else None, machine.get("date")]
    return " · ".join(p for p in parts if p)


def throughput(rows, dbs, machine, out: Path) -> None:
    fig, axes = plt.subplots(1, len(dbs) + 1, figsize=(5 * (len(dbs) + 1), 4.2), squeeze=False)
    for ax, db in zip(axes[0], dbs):
        for alg, points in sorted(series(rows, "warm", db).items()):
            ax.plot([p["conns"] for p in points], [p["rps"] for p in points], marker="o", label=alg, color=ALG_COLOURS.get(alg))
        connections_axis(ax, [p for ps in series(rows, "warm", db).values() for p in ps])
        ax.set_ylabel("tokens issued per second")
        ax.set_title(f"Warm path, {DB_TITLES[db]} (one core)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(title="signing algorithm")
    ax = axes[0][-1]
    for db in dbs:
        for _, points in series(rows, "cold", db).items():
            ax.plot([p["conns"] for p in points], [p["rps"] for p in points], marker="s", label=DB_TITLES[db])
    connections_axis(ax, [r for r in rows if r["kind"] == "cold"])
    ax.set_ylabel("tokens issued per second")
    ax.set_title("Cold path (ES256, BCrypt cost 10 each)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(title="database")
    fig.suptitle(f"Throughput against concurrency — {subtitle(machine)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)


def latency(rows, dbs, machine, out: Path) -> None:
    fig, axes = plt.subplots(1, len(dbs), figsize=(6 * len(dbs), 4.4), squeeze=False)
    for ax, db in zip(axes[0], dbs):
        for alg, points in sorted(series(rows, "warm", db).items()):
            conns = [p["conns"] for p in points]
            colour = ALG_COLOURS.get(alg)
            ax.plot(conns, [p["p50_ms"] for p in points], marker="o", color=colour, label=f"{alg} p50")
            ax.plot(conns, [p["p99_ms"] for p in points], marker="^", linestyle="--", color=colour, label=f"{alg} p99")
        connections_axis(ax, [p for ps in series(rows, "warm", db).values() for p in ps])
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_title(f"Warm path latency, {DB_TITLES[db]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    fig.suptitle(f"Latency percentiles against concurrency — {subtitle(machine)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)


def paced(rows, dbs, machine, out: Path) -> None:
    runs = [r for r in rows if r["kind"] == "paced" and r.get("db") in dbs]
    if not runs:
        return
    labels = [f"{DB_TITLES[r['db']]}\n{r['alg']}\n{r['rps']:,.0f}/s" for r in runs]
    xs = range(len(runs))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(runs)), 4.2))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], [r["p50_ms"] or 0 for r in runs], width, label="p50")
    ax.bar([x + width / 2 for x in xs], [r["p99_ms"] or 0 for r in runs], width, label="p99")
    ax.axhline(5, color="tab:red", linestyle=":", label="5 ms goal (p99)")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Warm path paced at 70 % of the best rate (achieved rate under each pair)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.suptitle(subtitle(machine), fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "paced.png", dpi=110)
    plt.close(fig)


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    rows = load(Path(sys.argv[1]))
    out = Path(sys.argv[2])
    machine_file = Path(sys.argv[3]) if len(sys.argv) == 4 else Path(sys.argv[1]).with_name("machine.txt")
    machine = {}
    if machine_file.exists():
        machine = dict(l.rstrip("\n").split("=", 1) for l in machine_file.read_text().splitlines() if "=" in l)
    dbs = databases(rows)
    if not dbs:
        print("load_charts.py: no warm or cold results to draw", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    throughput(rows, dbs, machine, out)
    latency(rows, dbs, machine, out)
    paced(rows, dbs, machine, out)
    for name in ("throughput.png", "latency.png", "paced.png"):
        if (out / name).exists():
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
