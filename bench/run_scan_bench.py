"""End-to-end ``dupeguard scan`` benchmark against the Splink 5 baseline.

Usage (from the repository root)::

    .venv/bin/python bench/run_scan_bench.py [--sizes 10000 100000 1000000] [--companies 50000]
        [--febrl/--no-febrl] [--splink/--no-splink] [--seed 1] [--threshold 0.85]
        [--data-dir bench/data] [--out-dir bench/out] [--results bench/RESULTS.md] [--repeat 1]

For every dataset -- synthetic contacts of each ``--sizes``, synthetic companies
(``--companies N``, 0 skips them) and, with ``--febrl``, FEBRL 3 and FEBRL 4 (A+B as one
file) -- it:

1. generates ``<data-dir>/<kind>_<n>_s<seed>.parquet`` (+ ``.truth.parquet``) with
   ``generate.py`` if missing (FEBRL: ``febrl.py`` writes ``febrl3.csv`` / ``febrl4.csv``);
2. runs the real CLI, ``dupeguard scan FILE --threshold T --out PAIRS.csv --clusters
   CLUSTERS.csv --quiet``, as a child process, then right after it ``splink_runner.py FILE
   --kind K --threshold T --threads 2 --out PAIRS.parquet`` (not for FEBRL: the Splink
   baseline only has settings for the synthetic columns);
3. scores the pairs files against the truth (pairwise precision/recall/F1 via
   ``metrics.pairwise_scores``; dupeguard's clusters via ``metrics.cluster_scores``).

Wall time is ``perf_counter`` around ``Popen`` .. ``os.wait4``; peak RSS is the child's
``ru_maxrss`` from ``wait4``. On Linux a child's ``ru_maxrss`` can never be below its
parent's own peak RSS (``vfork``/``exec`` carry the parent's high-water mark over), so this
process stays small: it imports no polars, and generation and scoring run in separate
processes. The launcher's peak RSS is printed as the measurement floor. Splink gets a
symlink to the records in ``<out-dir>/_inputs/`` so that ``splink_runner.py`` does not find
the truth file next to them and score itself inside the timed run.

Prints markdown tables and appends them, with the machine, git commit and library versions,
as a dated section to ``--results``. A failed run shows ``failed: <last line of its log>``;
full logs are in ``<out-dir>/<dataset>.<tool>.log``. ``--repeat N`` runs each tool N times
(dupeguard, Splink, dupeguard, ...) and reports the median wall time, its range, and the
largest peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import multiprocessing
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    from . import febrl  # imports nothing heavy at module level
except ImportError:  # run as a script from bench/
    import febrl  # type: ignore[no-redef]

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SPLINK_THREADS = 2
DUPEGUARD = "dupeguard"
SPLINK = "splink"


# ------------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class Dataset:
    """One benchmark input with its ground truth."""

    name: str
    path: Path
    entity: str  # dupeguard --entity
    splink_kind: str | None  # splink_runner --kind; None = no Splink run
    scan_args: tuple[str, ...] = ()
    generate: tuple[str, ...] = ()  # command that writes path + truth when missing

    @property
    def truth(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.truth.parquet")


def synthetic(kind: str, n: int, seed: int, data_dir: Path) -> Dataset:
    path = data_dir / f"{kind}_{n}_s{seed}.parquet"
    gen = (sys.executable, str(BENCH_DIR / "generate.py"), "--kind", kind, "--n", str(n),
           "--seed", str(seed), "--out", str(path))
    entity = "contact" if kind == "contacts" else "company"
    return Dataset(path.stem, path, entity, kind, ("--entity", entity), gen)


def febrl_dataset(name: str, data_dir: Path) -> Dataset:
    gen = (sys.executable, str(BENCH_DIR / "febrl.py"), "--dataset", name,
           "--out-dir", str(data_dir))
    return Dataset(name, data_dir / f"{name}.csv", "contact", None,
                   ("--entity", "contact", *febrl.SCAN_ARGS), gen)


def ensure(ds: Dataset) -> str | None:
    """Create the dataset if its records or truth file is missing; error line or None."""
    if ds.path.exists() and ds.truth.exists():
        return None
    ds.path.parent.mkdir(parents=True, exist_ok=True)
    log(f"generating {ds.path} ...")
    start = time.perf_counter()
    proc = subprocess.run(ds.generate, cwd=REPO_DIR, capture_output=True, text=True)
    if proc.returncode != 0 or not (ds.path.exists() and ds.truth.exists()):
        return _last_line(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
    log(f"  done in {time.perf_counter() - start:.1f} s")
    return None


# ---------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    wall_s: float
    rss_mb: float
    error: str | None


def measure(cmd: Sequence[str], log_path: Path) -> Measured:
    """Run ``cmd`` with stdout+stderr to ``log_path``; wall seconds and peak RSS (MiB)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=REPO_DIR)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4; keep Popen from waiting again
    error = None
    if code < 0:
        name = signal.Signals(-code).name
        error = f"killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    elif code > 0:
        text = log_path.read_text(errors="replace")
        error = _last_line(text) or f"exit status {code}"
    return Measured(wall, usage.ru_maxrss / 1024, error)  # ru_maxrss is KiB on Linux


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _last_line(text: str) -> str:
    """The last exception line of a traceback if there is one, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
    line = raised[-1] if raised else (lines[-1] if lines else "")
    return line[:200]


def dupeguard_cmd(ds: Dataset, threshold: float, pairs: Path, clusters: Path) -> list[str]:
    exe = Path(sys.executable).with_name("dupeguard")
    return [str(exe), "scan", str(ds.path), *ds.scan_args, "--threshold", str(threshold),
            "--out", str(pairs), "--clusters", str(clusters), "--quiet"]


def splink_cmd(ds: Dataset, threshold: float, records: Path, pairs: Path) -> list[str]:
    assert ds.splink_kind is not None
    return [sys.executable, str(BENCH_DIR / "splink_runner.py"), str(records),
            "--kind", ds.splink_kind, "--threshold", str(threshold),
            "--threads", str(SPLINK_THREADS), "--out", str(pairs)]


def splink_input(ds: Dataset, out_dir: Path) -> Path:
    """A symlink to the records with no ``.truth.parquet`` beside it (see module doc)."""
    link = out_dir / "_inputs" / ds.path.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ds.path.resolve())
    return link


# ------------------------------------------------------------------------------ scoring


def score_outputs(pairs: str | None, clusters: str | None, truth: str) -> dict[str, Any]:
    """Scores of a pairs file (and clusters file) against truth; runs in a worker process.

    With ``pairs=None`` only the record count (truth rows) is returned."""
    import polars as pl

    try:
        from . import metrics
    except ImportError:  # run as a script from bench/
        import metrics  # type: ignore[no-redef]

    truth_df = pl.read_parquet(truth, columns=["id", "entity_id"])
    if pairs is None:
        return {"records": truth_df.height}
    if pairs.endswith(".csv"):
        pred = (pl.scan_csv(pairs, infer_schema=False)
                .select("primary_id", "duplicate_id").collect())
    else:
        pred = pl.read_parquet(pairs, columns=["id_l", "id_r"])
    out: dict[str, Any] = {"records": truth_df.height, "pairs": pred.height,
                           "pairwise": metrics.pairwise_scores(pred, truth_df)}
    del pred
    if clusters is not None:
        members = (pl.scan_csv(clusters, infer_schema=False)
                   .select("record_id", "cluster_id").collect())
        out["cluster"] = metrics.cluster_scores(members, truth_df)
    return out


def score_in_subprocess(pairs: Path | None, clusters: Path | None,
                        truth: Path) -> dict[str, Any]:
    """``score_outputs`` in a fresh process, so this one's peak RSS stays small."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(score_outputs, str(pairs) if pairs else None,
                           str(clusters) if clusters else None, str(truth)).result()


# ------------------------------------------------------------------------------ results


@dataclass
class ToolRun:
    dataset: str
    tool: str
    walls: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    records: int | None = None
    pairs: int | None = None
    scores: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None
    error: str | None = None
    detail: str = ""  # e.g. Splink's own stage timings

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.walls)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_mb)


def run_dataset(ds: Dataset, args: argparse.Namespace) -> list[ToolRun]:
    out_dir: Path = args.out_dir
    dg = ToolRun(ds.name, DUPEGUARD)
    sp = ToolRun(ds.name, SPLINK) if args.splink and ds.splink_kind else None
    runs = [r for r in (dg, sp) if r is not None]
    problem = ensure(ds)
    if problem is not None:
        for run in runs:
            run.error = f"data generation failed: {problem}"
        return runs

    dg_pairs = out_dir / f"{ds.name}.dupeguard.pairs.csv"
    dg_clusters = out_dir / f"{ds.name}.dupeguard.clusters.csv"
    sp_pairs = out_dir / f"{ds.name}.splink.pairs.parquet"
    for i in range(args.repeat):
        tag = f" (run {i + 1}/{args.repeat})" if args.repeat > 1 else ""
        if dg.error is None:
            log(f"{ds.name}: dupeguard scan{tag} ...")
            _record(dg, measure(dupeguard_cmd(ds, args.threshold, dg_pairs, dg_clusters),
                                out_dir / f"{ds.name}.dupeguard.log"))
        if sp is not None and sp.error is None:
            log(f"{ds.name}: splink{tag} ...")
            link = splink_input(ds, out_dir)
            sp_log = out_dir / f"{ds.name}.splink.log"
            _record(sp, measure(splink_cmd(ds, args.threshold, link, sp_pairs), sp_log))
            sp.detail = _splink_stages(sp_log)

    outputs = {DUPEGUARD: (dg_pairs, dg_clusters), SPLINK: (sp_pairs, None)}
    for run in runs:
        if not run.ok:
            continue
        pairs, clusters = outputs[run.tool]
        try:
            result = score_in_subprocess(pairs, clusters, ds.truth)
        except Exception as exc:  # scoring is ours, not the tool's; still report it
            run.error = f"scoring failed: {_last_line(str(exc)) or type(exc).__name__}"
            continue
        run.records, run.pairs = result["records"], result["pairs"]
        run.scores, run.cluster = result["pairwise"], result.get("cluster")
    if not any(run.records for run in runs):  # every tool failed: still report the size
        try:
            count: int | None = score_in_subprocess(None, None, ds.truth)["records"]
        except Exception:
            count = None
        for run in runs:
            run.records = count
    return runs


def _splink_stages(log_path: Path) -> str:
    """``train 13.2 s, predict 0.1 s`` from splink_runner's summary line, if present."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    found = re.findall(r"\b(prepare|train|predict)=([0-9.]+)s", text)
    return ", ".join(f"{stage} {secs} s" for stage, secs in found[-3:])


def _record(run: ToolRun, m: Measured) -> None:
    run.walls.append(m.wall_s)
    run.rss_mb.append(m.rss_mb)
    run.error = m.error
    status = f"failed: {m.error}" if m.error else "ok"
    log(f"  {m.wall_s:.1f} s, peak RSS {m.rss_mb:,.0f} MiB, {status}")


# ----------------------------------------------------------------------------- markdown


def _f(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(runs: Sequence[ToolRun], records: dict[str, int | None]) -> str:
    rows = []
    for r in runs:
        n = _f(records.get(r.dataset), 0) if records.get(r.dataset) else "—"
        if not r.ok:
            wall = _f(r.walls[-1], 1) if r.walls else "—"
            rows.append([r.dataset, n, r.tool, wall, "—", "—", "—", "—", "—", "—",
                         f"failed: {r.error}"])
            continue
        wall = _f(r.wall, 1)
        if len(r.walls) > 1:
            wall += f" ({min(r.walls):.1f}–{max(r.walls):.1f})"
        s = r.scores or {}
        rows.append([
            r.dataset, n, r.tool, wall, _f(r.peak_mb, 0), _f(r.pairs, 0),
            _f(s.get("precision"), 4), _f(s.get("recall"), 4), _f(s.get("f1"), 4),
            _f(r.cluster["f1"], 4) if r.cluster else "—",
            f"ok ({r.detail})" if r.detail else "ok"])
    return _table(["dataset", "records", "tool", "wall s", "peak RSS MiB", "pairs", "precision",
                   "recall", "F1", "cluster F1", "status"], rows, "lrlrrrrrrrl")


def speed_table(runs: Sequence[ToolRun], records: dict[str, int | None]) -> str | None:
    by = {(r.dataset, r.tool): r for r in runs}
    rows = []
    for name in dict.fromkeys(r.dataset for r in runs):
        dg, sp = by.get((name, DUPEGUARD)), by.get((name, SPLINK))
        if dg is None or sp is None:
            continue
        both = dg.ok and sp.ok
        rows.append([
            name, _f(records.get(name), 0),
            _f(dg.wall, 1) if dg.ok else "failed", _f(sp.wall, 1) if sp.ok else "failed",
            f"{sp.wall / dg.wall:.2f}×" if both else "—",
            f"{sp.peak_mb / dg.peak_mb:.2f}×" if both else "—",
            _f(sp.scores["f1"] - dg.scores["f1"], 4) if both and sp.scores and dg.scores
            else "—"])
    if not rows:
        return None
    return _table(["dataset", "records", "dupeguard s", "splink s", "splink / dupeguard time",
                   "splink / dupeguard RSS", "F1 splink − dupeguard"], rows, "lrrrrrr")


def scaling_table(runs: Sequence[ToolRun], records: dict[str, int | None]) -> str | None:
    rows = []
    for tool in (DUPEGUARD, SPLINK):
        series = sorted(
            ((records[r.dataset] or 0, r) for r in runs
             if r.tool == tool and r.ok and r.dataset.startswith("contacts_")
             and records.get(r.dataset)),
            key=lambda item: item[0])
        for (n_a, a), (n_b, b) in itertools.pairwise(series):
            if n_b <= n_a:
                continue
            growth = n_b / n_a
            t_ratio = b.wall / a.wall
            per_10x = t_ratio ** (1 / math.log10(growth))
            rows.append([tool, f"{n_a:,} → {n_b:,}", f"{growth:.1f}×", f"{t_ratio:.2f}×",
                         f"{per_10x:.2f}×", f"{b.peak_mb / a.peak_mb:.2f}×"])
    if not rows:
        return None
    return _table(["tool", "contacts", "records ×", "time ×", "time per 10× records",
                   "peak RSS ×"], rows, "llrrrr")


# ------------------------------------------------------------------------ environment


def machine_lines() -> list[str]:
    import psutil

    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = psutil.virtual_memory().total / 2**30
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return [
        f"- machine: {platform.platform()}, {cpu_model}, {os.cpu_count()} logical CPUs"
        + (f" ({usable} usable)" if usable is not None else "") + f", {ram_gib:.1f} GiB RAM",
        f"- python {platform.python_version()}; dupeguard {_version('dupeguard')} at "
        f"{git_commit()}; splink {_version('splink')}, duckdb {_version('duckdb')}, "
        f"polars {_version('polars')}",
    ]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """``git rev-parse --short HEAD``, ``-dirty`` if tracked files (or anything under
    ``src/``, untracked files included) differ from HEAD."""

    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=REPO_DIR, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no") or git(
            "status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return commit + ("-dirty" if dirty else "")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                   help="contact dataset sizes")
    p.add_argument("--companies", type=int, default=50_000, help="company records (0: skip)")
    p.add_argument("--febrl", action=argparse.BooleanOptionalAction, default=True,
                   help="also scan FEBRL 3 and FEBRL 4 (A+B)")
    p.add_argument("--splink", action=argparse.BooleanOptionalAction, default=True,
                   help="run the Splink baseline after each dupeguard run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threshold", type=float, default=0.85)
    p.add_argument("--data-dir", type=Path, default=Path("bench/data"))
    p.add_argument("--out-dir", type=Path, default=Path("bench/out"))
    p.add_argument("--results", type=Path, default=Path("bench/RESULTS.md"))
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if any(n < 2 for n in args.sizes) or args.companies < 0:
        p.error("sizes must be >= 2 and --companies >= 0")
    for name in ("data_dir", "out_dir", "results"):  # relative to the repo, not the cwd
        path: Path = getattr(args, name)
        setattr(args, name, path if path.is_absolute() else REPO_DIR / path)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    datasets = [synthetic("contacts", n, args.seed, args.data_dir) for n in args.sizes]
    if args.companies:
        datasets.append(synthetic("companies", args.companies, args.seed, args.data_dir))
    if args.febrl:
        datasets += [febrl_dataset(name, args.data_dir) for name in ("febrl3", "febrl4")]
    args.out_dir.mkdir(parents=True, exist_ok=True)

    runs: list[ToolRun] = []
    for ds in datasets:
        runs += run_dataset(ds, args)
    records: dict[str, int | None] = {r.dataset: r.records for r in runs if r.records}
    floor_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sections = ["### Results", results_table(runs, records)]
    speed = speed_table(runs, records)
    if speed:
        sections += ["### Speed vs Splink", speed]
    scaling = scaling_table(runs, records)
    if scaling:
        sections += ["### Scaling (contacts)", scaling]
    notes = [
        f"- threshold {args.threshold} for both tools (dupeguard similarity, Splink match "
        f"probability); Splink on {SPLINK_THREADS} DuckDB threads; seed {args.seed}; "
        f"{args.repeat} run(s) per tool, wall = median (range)",
        "- wall = whole CLI run (start-up, read, match, write pairs + clusters); peak RSS = "
        f"child's ru_maxrss (launcher floor {floor_mb:.0f} MiB)",
        "- precision/recall/F1: pairwise on the pairs file; cluster F1: pairs implied by "
        "dupeguard's clusters",
    ]
    if args.febrl:
        notes.append("- FEBRL (no Splink baseline): `dupeguard scan febrlN.csv "
                     + " ".join(febrl.SCAN_ARGS) + "`")
    body = "\n\n".join(sections)
    print(body)
    print()
    print("\n".join(notes))

    heading = f"## {started:%Y-%m-%d %H:%M} UTC — scan benchmark"
    section = "\n".join([heading, "", *machine_lines(), f"- command: `{_command_line()}`",
                         *notes, "", body, ""])
    append_results(args.results, section)
    log(f"appended to {args.results}")
    return 0 if all(r.ok for r in runs) else 1


def _command_line() -> str:
    return " ".join(["bench/run_scan_bench.py", *sys.argv[1:]])


def append_results(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("# dupeguard scan benchmark results\n\nAppended by "
                        "`bench/run_scan_bench.py`; newest last.\n")
    with path.open("a") as fh:
        fh.write("\n" + section)


if __name__ == "__main__":
    sys.exit(main())
