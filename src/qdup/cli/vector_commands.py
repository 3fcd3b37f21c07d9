"""Vector commands: ``qdup encode`` (export vectors) and ``qdup calibrate-search``."""

from __future__ import annotations

import click

from ..errors import ConfigError
from . import cli, named, naming, threads_option


@cli.command()
@click.argument("questions_file", metavar="QUESTIONS", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), callback=named,
              help="Vectors file to write (.npy).")
@click.option("--model", "model_path", type=click.Path(), help="Model folder [default: the built-in model].")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def encode(questions_file, out, model_path, force, quiet):
    """Encode a file of questions to unit vectors, one row per question, in file order.

    QUESTIONS is read as by `qdup index build`. The output is a float32 (n, dim) NumPy
    array (np.load reads it; no pickles). Parquet is not offered: pyarrow is not a
    dependency of qdup.

    \b
    Example:
      qdup encode questions.csv --out vectors.npy
    """
    if not out.lower().endswith(".npy"):
        raise ConfigError(f"--out must end in .npy, got {out!r}")
    from .. import model
    from ..data.corpus import read_questions
    from ..data.questions import check_questions
    from ..data.vectors import write_vectors
    from ..util.atomic import check_new_file

    check_new_file(out, force)  # before the encoding, not after it

    questions = check_questions(read_questions(questions_file).questions)  # as an index refuses them
    vectors = model.load(model_path).encode(questions, progress=not quiet)
    write_vectors(out, vectors)
    click.echo(f"wrote {vectors.shape[0]} vectors of {vectors.shape[1]} floats to {out}")


@cli.command("calibrate-search")
@click.argument("data_file", metavar="DATA", type=click.Path(dir_okay=False))
@click.option("--model", "model_path", required=True, type=click.Path(file_okay=False),
              help="Model folder; its config.json gets the search_threshold entry.")
@click.option("--precision", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True,
              help="Share of flagged top matches that must be true duplicates.")
@click.option("--dry-run", is_flag=True, help="Print the threshold without storing it.")
@threads_option()
def calibrate_search(data_file, model_path, precision, dry_run):
    """Choose the search threshold ("likely duplicate") on validation queries and store it.

    Indexes every distinct question of DATA, searches with question1 of each validation
    duplicate (reference split) and picks the lowest score at which flagged top matches
    are true duplicates at PRECISION (labelled duplicates, transitively, or the same text
    up to case and punctuation). The pair threshold is not changed.

    \b
    Example:
      qdup calibrate-search pairs.tsv --model models/quora --precision 0.8
    """
    import json

    from .. import model
    from ..data.pairs import read_pairs
    from ..data.split import reference_split
    from ..evaluation.search_calibration import calibrate_on_pairs

    with naming(data_file):
        labelled = read_pairs(data_file)
        reference_split(labelled)  # pairs that cannot be split: refused before the model loads
    loaded = model.load(model_path)
    with naming(data_file):
        calibration = calibrate_on_pairs(loaded, labelled, precision)
    if not dry_run:
        model.write_config_entries(model_path, search_threshold=calibration.to_dict())
    click.echo(json.dumps(calibration.to_dict()))
    click.echo(calibration.summary() + ("" if dry_run else f"; stored in {model_path}/config.json"))
