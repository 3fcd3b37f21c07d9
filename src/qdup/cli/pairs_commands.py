"""Pair commands: ``qdup train``, ``qdup evaluate``, ``qdup predict``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..training import recipes
from ..training.devices import check_device
from ..errors import ConfigError, DataError
from ..scoring.thresholds import check_threshold
from . import cli, named, naming, outside, search_threshold, threads_option

# evaluation, model and training import torch: commands import them when they run, so that
# `qdup --help`, `--version` and argument errors stay fast.

SPLITS = ("all", "train", "validation", "test")


@cli.command()
@click.argument("data_file", metavar="DATA", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), callback=named,
              help="Model folder to write.")
@click.option("--recipe", default=recipes.DEFAULT_RECIPE, show_default=True,
              type=click.Choice(list(recipes.RECIPES)),
              help=f"Preset of training settings (with --encoder: {recipes.ENCODER_RECIPE} unless given).")
@click.option("--encoder", "encoder_path", type=click.Path(file_okay=False),
              help="Fine-tune this local sentence-transformers / Hugging Face model folder "
                   "instead of training an LSTM, once, and fit the re-ranker on the pairs it "
                   "never saw (recipe transformer; needs qdup[transformers]).")
@click.option("--epochs", type=int, help="Passes over the training pairs.")
@click.option("--batch-size", type=int, help="Pairs per batch (the in-batch negatives).")
@click.option("--lr", "learning_rate", type=float, help="Adam learning rate.")
@click.option("--margin", type=float, help="Triplet loss margin.")
@click.option("--dim", type=int, help="Embedding / LSTM size.")
@click.option("--max-length", type=int, help="Tokens kept per question.")
@click.option("--seed", type=int, help="Seed for initialisation and shuffling.")
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
              help=f"Any other training setting: {', '.join(recipes.SETTINGS)}.")
@click.option("--device", default="cpu", show_default=True, help="Where to train: cpu, cuda, cuda:1...")
@click.option("--force", is_flag=True, help="Replace an existing model folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def train(data_file, out, recipe, encoder_path, extra, device, force, quiet, **settings):
    """Train a model on a Quora-style pairs file, using the reference split.

    Unless the recipe keeps fixed thresholds (reference, or --set calibrate=false), the
    validation pairs choose the pair threshold and the validation queries the search
    threshold ("likely duplicate" at precision 0.8; `qdup calibrate-search` for another).

    \b
    Example:
      qdup train quora_duplicate_questions.tsv --out models/quora
      qdup train pairs.tsv --out models/ref --recipe reference --epochs 5 --set dropout=0.2
      qdup train pairs.tsv --out models/minilm --encoder ~/all-MiniLM-L6-v2
    """
    from ..data.pairs import read_pairs  # numpy: only for commands that read pairs
    from ..data.split import reference_split

    from .. import model
    from ..training import trainer
    from ..training.steps import check_calibration, chosen_by

    if encoder_path and click.get_current_context().get_parameter_source("recipe").name == "DEFAULT":
        recipe = recipes.ENCODER_RECIPE
    given = {key: value for key, value in settings.items() if value is not None}
    config = trainer.TrainConfig.from_recipe(recipe, **{**given, **recipes.parse_settings(extra)})
    model.check_output(out, force)  # fail before training, not after it
    outside(out, data_file, encoder_path)
    with naming(data_file):
        labelled = read_pairs(data_file)
        split = reference_split(labelled)
        check_calibration(split.validation, config.calibrate)  # training's own check, naming the file
    trained = trainer.train(split, config, progress=not quiet, device=check_device(device), encoder=encoder_path)
    trained.save(out, force=force)
    best = trained.info["history"][trained.info["best_epoch"] - 1]
    name, value = chosen_by(best, config.select)
    click.echo(f"saved {out} (best epoch {best['epoch']}, chosen by {name} {value:.4f})")
    if searched := search_threshold(out, trained, labelled, config.calibrate, quiet):
        click.echo(searched)


def _finite(figures: dict) -> dict:
    """JSON has no NaN: an undefined figure (ROC AUC of a single class) becomes null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in figures.items()}


SCORE_IS = "(the built-in model's score is a re-ranker's duplicate probability; a cosine model's, the cosine)"


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] DATA")
@click.option("--threshold", "-t", type=float, help=f"Score above which a pair is a duplicate {SCORE_IS} "
              "[default: the model's].")
@click.option("--split", "subset", default="all", show_default=True, type=click.Choice(SPLITS),
              help="Which pairs of DATA to score (train/validation/test: the reference split).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--plots", type=click.Path(file_okay=False), callback=named,
              help="Folder for ROC, precision-recall and score-histogram PNGs.")
@threads_option()
def evaluate(args, threshold, subset, as_json, plots):
    """Score labelled pairs: accuracy, confusion matrix, precision, recall, F1, ROC AUC.

    Without MODEL the built-in model is used.

    \b
    Example:
      qdup evaluate models/reference quora_duplicate_questions.tsv --split test --threshold 0.7
    """
    from ..data.pairs import read_pairs  # numpy: only for commands that read pairs
    from ..data.split import reference_split

    if len(args) not in (1, 2):
        raise ConfigError(f"expected [MODEL] DATA, got {len(args)} arguments")
    from .. import model
    from ..evaluation import pairs
    from ..evaluation.metrics import auc_text
    from ..evaluation.plots import FILES, check_folder, save_plots

    if threshold is not None:
        check_threshold(threshold)  # before reading the pairs and loading the model
    if plots:
        check_folder(plots)  # before the scoring, not after it
    labelled = read_pairs(args[-1])
    with naming(args[-1]):
        if subset != "all":
            labelled = getattr(reference_split(labelled), subset)
        if not len(labelled):  # before the model loads
            raise DataError("no pairs to evaluate" + ("" if subset == "all" else f" in its {subset} split"))
    loaded = model.load(args[0] if len(args) == 2 else None)
    report = pairs.evaluate(loaded, labelled, threshold)
    if plots:
        save_plots(report.labels, report.scores, report.threshold, plots, title=f"{subset} pairs",
                   score_label=f"the model's score ({loaded.scorer.name} scorer)")
    if as_json:
        click.echo(json.dumps(_finite({"split": subset, **report.to_dict()}), indent=2))
        return
    (tn, fp), (fn, tp) = report.confusion_matrix
    click.echo(
        f"pairs:      {report.pairs} ({subset})\n"
        f"threshold:  {report.threshold:.4f}\n"
        f"accuracy:   {report.accuracy:.4f}\n"
        f"confusion:  [[TN {tn}, FP {fp}], [FN {fn}, TP {tp}]]\n"
        f"precision:  {report.precision:.4f}   recall: {report.recall:.4f}   F1: {report.f1:.4f}\n"
        f"ROC AUC:    {auc_text(report.roc_auc)}\n"
        f"best accuracy {report.best_accuracy:.4f} at threshold {report.best_accuracy_threshold:.4f}; "
        f"best F1 {report.best_f1:.4f} at threshold {report.best_f1_threshold:.4f}"
    )
    if plots:
        click.echo(f"plots:      {', '.join(str(Path(plots) / name) for name in FILES)}")


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] QUESTION1 QUESTION2")
@click.option("--threshold", "-t", type=float, help=f"Score above which the pair is a duplicate {SCORE_IS} "
              "[default: the model's].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@threads_option(default=1)
def predict(args, threshold, as_json):
    """Are two questions duplicates? Prints the model's score of the pair and the verdict.

    The score is what the threshold applies to: for the built-in model its re-ranker's
    probability that the two are duplicates (from their cosine and their words); for a
    model with the cosine scorer, the cosine of their vectors.

    Without MODEL the built-in model is used.

    \b
    Example:
      qdup predict models/reference "When will I see you?" "When can I see you again?"
    """
    if len(args) not in (2, 3):
        raise ConfigError(f"expected [MODEL] QUESTION1 QUESTION2, got {len(args)} arguments")
    from .. import model
    from ..evaluation import pairs

    if threshold is not None:
        check_threshold(threshold)
    loaded = model.load(args[0] if len(args) == 3 else None)
    is_duplicate, score = pairs.predict(loaded, args[-2], args[-1], threshold)
    used = loaded.threshold if threshold is None else threshold
    if as_json:  # "similarity": its name before "score", kept for scripts written against it
        click.echo(json.dumps({"is_duplicate": is_duplicate, "score": score, "similarity": score, "threshold": used}))
    else:
        verdict = "duplicate" if is_duplicate else "not duplicate"
        click.echo(f"{score:.4f} {verdict} (threshold {used:.2f})")


@cli.command()
@click.argument("data_file", metavar="DATA", type=click.Path(dir_okay=False))
@click.option("--model", "model_path", required=True, type=click.Path(file_okay=False),
              help="Model folder; its config.json (a pretrained folder's qdup.json) gets the threshold.")
@click.option("--dry-run", is_flag=True, help="Print the threshold without storing it.")
@threads_option()
def calibrate(data_file, model_path, dry_run):
    """Choose the pair threshold on DATA's validation pairs (reference split) and store it.

    The threshold that maximises accuracy of the model's score; what training stores, for
    a model that was not trained here (a pretrained folder opened as it is) or on other data.

    \b
    Example:
      qdup calibrate pairs.tsv --model ~/all-MiniLM-L6-v2
    """
    from ..data.pairs import read_pairs  # numpy: only for commands that read pairs
    from ..data.split import reference_split

    from .. import model
    from ..evaluation import pairs
    from ..training.steps import check_calibration

    with naming(data_file):
        validation = reference_split(read_pairs(data_file)).validation
        check_calibration(validation, store=True, skip=None)  # training's rule; before the model loads
    figures = pairs.calibration(model.load(model_path), validation)
    threshold = round(figures["accuracy_threshold"], 4)
    if not dry_run:
        model.write_config_entries(model_path, threshold=threshold, calibration=figures)
    click.echo(f"threshold {threshold:.4f}: validation accuracy {figures['validation_accuracy']:.4f}, "
               f"ROC AUC {figures['validation_auc']:.4f} on {figures['pairs']} pairs"
               + ("" if dry_run else f"; stored in {model_path}"))
