"""Assemble benchmarks/RESULTS.md from the per-area result files in benchmarks/results/.

Each benchmark script writes its own ``results/<area>.md`` (same-run timings against R, lifelines,
msm or statsmodels, with ratios). Run ``python benchmarks/make_results.py`` after any of them.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "survival_km",
    "survival_cox",
    "survival_firth",
    "multistate",
    "mrd",
    "simulate",
    "io",
]

HEADER = """# Benchmark results

Same-run comparisons: every table below was produced by one run of the named script, which
times mrdtrack and its anchor (R `survival`/`msm` through `Rscript` on the same files,
lifelines, statsmodels, firthmodels) in separate processes, fit call only, interleaved rounds,
and prints the median times and their ratio (ours / anchor: below 1 means faster). The machine is
the project's 2-core, 24 GiB box, shared with other work while these ran, so single ratios carry
noise; the scripts print the load average. Regenerate a section with its script, then this file
with `python benchmarks/make_results.py`.
"""


def main() -> None:
    files = {p.stem: p for p in (HERE / "results").glob("*.md")}
    names = [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER))
    parts = [HEADER]
    for name in names:
        text = files[name].read_text().strip()
        parts.append(f"<!-- from benchmarks/results/{name}.md -->\n{text}\n")
    (HERE / "RESULTS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
