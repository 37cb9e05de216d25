"""`vae-report`: one self-contained HTML page about a trained run, with an interactive latent explorer."""

from __future__ import annotations

from pathlib import Path

import click

from vae.views import CONDITIONAL_EXPLORER_SIZE, EXPLORER_SIZE
from vae_scripts.common import data_dir_option, index_list, one_line_errors, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@run_dir_option
@data_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/report.html")
@click.option(
    "--explorer-size",
    type=click.IntRange(2, 128),
    help=f"Cells per side of the latent grid the explorer blends between (decoded once, in one batch). Default: "
    f"{EXPLORER_SIZE}, or for each class's grid of a conditional run {CONDITIONAL_EXPLORER_SIZE} (fewer beyond 10 "
    "classes).",
)
@click.option("--dims", callback=index_list, default="0,1", show_default=True, help="The two latent axes to explore.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Picks digits and samples.")
@one_line_errors
def main(run_dir, data_dir, output, explorer_size, dims, seed):
    """Write <run-dir>/report.html: config, curves, eval.json, reconstructions, samples, the training animation of a
    --snapshots run, and a latent explorer. It opens offline in any browser: everything is inlined."""
    from vae.views.report import build_report

    path = build_report(run_dir, output, data_dir, explorer_size=explorer_size, dims=tuple(dims), seed=seed)
    click.echo(path)


if __name__ == "__main__":
    main()
