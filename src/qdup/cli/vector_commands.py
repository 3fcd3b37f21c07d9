"""Vector commands: ``qdup encode`` (export vectors) and ``qdup calibrate-search``."""

from __future__ import annotations

import os

import click

from ..errors import ConfigError, OutputExistsError
from . import cli


@cli.command()
@click.argument("questions_file", metavar="QUESTIONS", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Vectors file to write (.npy).")
@click.option("--model", "model_path", type=click.Path(), help="Model folder [default: the built-in model].")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
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
    if os.path.exists(out) and not force:
        raise OutputExistsError(f"{out} already exists (use --force to replace it)")
    from .. import atomic, model
    from ..corpus import read_questions
    from ..index_store import npy_bytes

    corpus = read_questions(questions_file)
    vectors = model.load(model_path).encode(corpus.questions, progress=not quiet)
    atomic.write_bytes(out, npy_bytes(vectors))
    click.echo(f"wrote {vectors.shape[0]} vectors of {vectors.shape[1]} floats to {out}")
