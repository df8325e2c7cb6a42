"""The ecology report's plots, written as PNG files (matplotlib's headless Agg backend): the
colony's energy and its spread over generations, the episodes' mean score, held-out accuracy
per family for each compared adapter with its 95% interval, and ROI per organelle."""

from __future__ import annotations

from pathlib import Path

from ecology.report import EcologyReport


def write_plots(report: EcologyReport, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(figure, name: str) -> None:
        path = folder / name
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    generations = [g.generation for g in report.generations]
    figure, (energy, spread) = plt.subplots(1, 2, figsize=(10, 3.6))
    energy.plot(generations, [float(g.energy_total) for g in report.generations], marker="o")
    energy.set(title="energy held by the living", xlabel="generation", ylabel="energy")
    spread.plot(generations, [g.energy_gini for g in report.generations], marker="o",
                label="Gini")
    spread.plot(generations, [g.effective_population for g in report.generations],
                marker="s", label="effective population")
    spread.plot(generations, [g.living for g in report.generations], linestyle="--",
                label="living")
    spread.set(title="how energy is spread", xlabel="generation")
    spread.legend()
    save(figure, "energy.png")

    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.plot(generations, [g.mean_score for g in report.generations], marker="o")
    axis.set(title="episodes' mean score (training reward)", xlabel="generation",
             ylabel="share of answers checked right", ylim=(0, 1))
    save(figure, "scores.png")

    roles = {role: adapter for role, adapter in report.roles().items() if adapter}
    families = report.families()
    figure, axis = plt.subplots(figsize=(max(6, 1.6 * len(families) * len(roles) / 2), 4))
    width = 0.8 / max(1, len(roles))
    for index, (role, adapter) in enumerate(roles.items()):
        scored = report.holdout.get(adapter, {})
        xs = [f + index * width for f in range(len(families))]
        rates = [scored[f].rate if f in scored else 0 for f in families]
        errors = [[scored[f].rate - scored[f].low if f in scored else 0 for f in families],
                  [scored[f].high - scored[f].rate if f in scored else 0 for f in families]]
        axis.bar(xs, rates, width, yerr=errors, capsize=3, label=role)
    axis.set_xticks([f + width * (len(roles) - 1) / 2 for f in range(len(families))],
                    families)
    axis.set(title="held-out accuracy (95% Wilson interval)", ylabel="accuracy", ylim=(0, 1))
    axis.legend(fontsize="small")
    save(figure, "holdout.png")

    scored = {name: o.roi for name, o in report.organelles.items() if o.roi is not None}
    figure, axis = plt.subplots(figsize=(max(5, 0.7 * len(scored)), 3.6))
    names = list(scored)
    axis.bar(range(len(names)), [scored[n] for n in names])
    axis.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    axis.set_xticks(range(len(names)), [n.removeprefix(report.run_id + "-") for n in names])
    axis.set(title="ROI per organelle (task income / compute charged)", ylabel="ROI")
    save(figure, "roi.png")
    return written
