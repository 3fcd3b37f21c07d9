"""Commands that make a model from another one: ``qdup distill`` and ``qdup import-keras``."""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..training import recipes
from ..training.devices import check_device
from . import cli, named, naming, outside, search_threshold, threads_option


@cli.command()
@click.argument("teacher", metavar="TEACHER", type=click.Path(file_okay=False))
@click.option("--questions", "questions_file", required=True, type=click.Path(dir_okay=False),
              help="Unlabelled questions to learn from (read as by `qdup index build`).")
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False),
              help="Labelled pairs too: their training pairs add the default losses and fit the "
                   "re-ranker, and the validation pairs choose the epoch and the threshold (reference split).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), callback=named,
              help="Student model folder to write.")
@click.option("--epochs", type=int, help="Passes over the questions.")
@click.option("--batch-size", type=int,
              help="Questions per batch (each with its nearest questions by the teacher: 3, or --set neighbours).")
@click.option("--lr", "learning_rate", type=float, help="Adam learning rate.")
@click.option("--seed", type=int, help="Seed for initialisation and shuffling.")
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
              help="Any other setting of the student (the default recipe's LSTM) or of the distillation: "
                   f"{', '.join(recipes.DISTILL_SETTINGS)}.")
@click.option("--device", default="cpu", show_default=True, help="Where to train: cpu, cuda, cuda:1...")
@click.option("--force", is_flag=True, help="Replace an existing model folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def distill(teacher, questions_file, pairs_file, out, extra, device, force, quiet, **settings):
    """Train a fast LSTM student to reproduce TEACHER's similarities.

    TEACHER is any model folder qdup opens (a fine-tuned or pretrained transformer). The
    student is an ordinary qdup model folder with the default recipe's encoder. Without
    --pairs it is scored by its cosine and keeps the teacher's threshold. With --pairs it
    also gets the default recipe's re-ranker (word features + cosine; two more students,
    each distilled without half of the pairs: three times the training time, or
    `--set scorer=cosine` to skip it) and a threshold calibrated on the validation pairs.
    Its re-ranker learns from look-alikes as its teacher's did (the teacher's lookalikes and
    lookalike_words, unless --set says otherwise).

    \b
    Example:
      qdup distill models/minilm --questions questions.txt --pairs pairs.tsv --out models/student
    """
    from ..data.pairs import read_pairs  # numpy: only for commands that read pairs
    from ..data.split import reference_split

    from ..training.distill import check_enough_questions, teacher_lookalikes
    from ..training.distill import distill as distill_student  # this command is named distill
    from .. import model
    from ..data.corpus import read_questions
    from ..training.steps import check_calibration, chosen_by

    given = {key: value for key, value in settings.items() if value is not None}
    overrides, distill_config = recipes.parse_distill_settings(extra)
    chosen = {"scorer": "rerank" if pairs_file else "cosine", **given, **overrides}
    checked = recipes.TrainConfig.from_recipe(recipes.DEFAULT_RECIPE, **chosen)  # bad settings: refused now
    model.check_output(out, force)  # fail before the teacher's encoding and the training
    outside(out, questions_file, pairs_file)
    with naming(pairs_file):
        pairs = read_pairs(pairs_file) if pairs_file else None
        labelled = reference_split(pairs) if pairs is not None else None
        if labelled is not None:  # distill()'s own check, naming the file, before the teacher loads
            check_calibration(labelled.validation, checked.calibrate)
    questions = read_questions(questions_file).questions
    try:
        check_enough_questions(questions, labelled)  # before the teacher loads (minutes for a large one)
    except ConfigError as error:
        source = f"{questions_file} with the training pairs of {pairs_file}" if pairs_file else questions_file
        raise ConfigError(f"{source}: {error}") from None
    teacher_model = model.load(teacher)
    config = recipes.TrainConfig.from_recipe(recipes.DEFAULT_RECIPE, **{**teacher_lookalikes(teacher_model), **chosen})
    student = distill_student(teacher_model, questions, config, labelled, progress=not quiet,
                              device=check_device(device), distill_config=distill_config)
    student.save(out, force=force)
    best = student.info["history"][student.info["best_epoch"] - 1]
    name, value = chosen_by(best, config.select)  # no AUC for validation pairs of one label
    click.echo(f"saved {out} (best epoch {best['epoch']}, chosen by {name} {value:.4f})")
    if pairs is not None and (searched := search_threshold(out, student, pairs, config.calibrate, quiet)):
        click.echo(searched)


@cli.command("import-keras")
@click.argument("keras_file", metavar="MODEL.keras", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), callback=named,
              help="Model folder to write.")
@click.option("--force", is_flag=True, help="Replace an existing model folder.")
def import_keras(keras_file, out, force):
    """Import the reference Keras model (SPEC §3) as a qdup model folder.

    Maps the TextVectorization vocabulary, the embedding and the LSTM weights of a Keras 3
    .keras file onto `--recipe reference`'s network; nothing in the file is run. qdup
    masks padding where the reference does not, so vectors match Keras's for questions
    encoded without padding. Threshold 0.7 (SPEC §6) until `qdup calibrate` sets one.

    \b
    Example:
      qdup import-keras siamese.keras --out models/from-keras
    """
    from .. import model
    from ..training.keras_import import import_keras as read_keras  # this command is named import_keras

    model.check_output(out, force)
    imported = read_keras(keras_file)
    imported.save(out, force=force)
    click.echo(f"imported {keras_file} into {out} (vocabulary {len(imported.encoder.vocabulary)}, "
               f"dim {imported.dim})")
