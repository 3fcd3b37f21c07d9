"""Forum commands: ``qdup index update``, ``qdup decide``, ``qdup decisions import/export``, ``qdup refit``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError, DataError, UnknownIdError
from . import cli, counted, named, naming, outside, threads_option, within
from .search_commands import MODEL_HELP, index

if TYPE_CHECKING:
    from ..search.index import Index

# As in search_commands: each command imports the index and decisions when it runs.


@index.command("update")
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.argument("questions_file", metavar="QUESTIONS", type=click.Path(dir_okay=False))
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP)
@threads_option()
def update(index_path, questions_file, model_path):
    """Replace edited questions by id (ids not stored yet are added).

    QUESTIONS is read as by `index build` and must have ids. One atomic write: every
    question of the file is replaced, or none. Metadata is patched: the fields a row gives
    replace the stored ones (a JSON null removes one), and fields it leaves out are kept.

    \b
    Example:
      qdup index update my-index edited.jsonl
    """
    from ..data.corpus import read_questions
    from ..search.index import Index

    corpus = read_questions(questions_file)
    if corpus.ids is None:
        raise ConfigError(f"{questions_file} has no ids: an update replaces questions by id")
    opened = Index.load(index_path)
    replaced = opened.update(opened.model(model_path), corpus.ids, corpus.questions, corpus.metadata)
    click.echo(f"updated {counted(sum(replaced), 'question')} and added {len(replaced) - sum(replaced)} in "
               f"{index_path} ({len(opened)} in all)")


@cli.command()
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.option("--query", required=True, metavar="ID|TEXT",
              help="The question asked: a stored question's id, else the text asked (it needs words: "
                   "a number alone is refused as an unknown id).")
@click.option("--match", "match_id", required=True, metavar="ID", help="The stored question shown as its match.")
@click.option("--duplicate/--not-duplicate", required=True, help="The verdict.")
@click.option("--moderator", help="Who decided (kept with the decision).")
def decide(index_path, query, match_id, duplicate, moderator):
    """Record a moderator's verdict on a match: is it a duplicate of the query?

    Decisions are kept in the index folder (decisions.jsonl, append-only) with the time,
    the moderator and both texts; `qdup refit` learns from them.

    \b
    Example:
      qdup decide my-index --query 17 --match 42 --duplicate --moderator alice
      qdup decide my-index --query "How do I reset my password?" --match 42 --not-duplicate
    """
    from ..search.decisions import decide as make_decision
    from ..search.decisions import record
    from ..search.index import Index

    opened = Index.load(index_path)
    stored = _is_stored(opened, query.strip())  # ids are stored stripped
    if not stored and not any(c.isalpha() for c in query):  # "999": a mistyped id, not a question asked
        raise UnknownIdError(f"id {query.strip()!r} is not in the index (and as a question it has no words)")
    decision = make_decision(opened, match_id, duplicate, query=None if stored else query,
                             query_id=query.strip() if stored else None, moderator=moderator)
    count = record(opened.path, [decision])
    verdict = "a duplicate" if duplicate else "not a duplicate"
    click.echo(f"recorded: #{decision.match_id} is {verdict} of {_shown(decision)} "
               f"({counted(count, 'decision')} in {index_path})")


def _is_stored(opened: Index, query: str) -> bool:
    try:
        opened.get(query)
    except UnknownIdError:
        return False
    return True


def _shown(decision) -> str:
    return f"#{decision.query_id}" if decision.query_id else repr(decision.query)


@cli.group()
def decisions() -> None:
    """Moderator decisions kept in an index folder: import many, export them as pairs.

    \b
    Example:
      qdup decisions export my-index --out decisions.tsv
    """


@decisions.command("import")
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.argument("decisions_file", metavar="FILE", type=click.Path(dir_okay=False))
def import_decisions(index_path, decisions_file):
    """Record many decisions at once (all of them, or none on error).

    FILE is CSV/TSV with a header, or JSON Lines, with `query_id` (a stored question) or
    `query` (a text), `match_id`, `duplicate` (1/0 or true/false) and optionally
    `moderator` and `time` (ISO 8601, say when a thread was closed; default: now).
    A file `qdup decisions export` wrote imports as it is (its query by id while that
    id holds the same question, else by its text; a match id that now holds another
    question is refused).

    \b
    Example:
      qdup decisions import my-index closed-threads.csv
    """
    from ..search.decisions import read_decision_file, record
    from ..search.index import Index

    opened = Index.load(index_path)
    found = read_decision_file(opened, decisions_file)
    count = record(opened.path, found)
    click.echo(f"recorded {counted(len(found), 'decision')} ({count} in {index_path})")


@decisions.command("export")
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), callback=named,
              help="Pairs file to write: TSV, or CSV for a .csv name.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def export_decisions(index_path, out, force):
    """Write the decisions as labelled pairs in the Quora layout (the latest verdict per pair),
    which `train`, `evaluate` and `calibrate` read.

    \b
    Example:
      qdup decisions export my-index --out decisions.tsv
      qdup evaluate models/refit decisions.tsv
    """
    from ..search.decisions import export_pairs, read_decisions
    from ..search.index import Index

    opened = Index.load(index_path)  # an index folder, with a readable manifest
    if within(out, opened.path):  # --force would replace the index's own files
        raise ConfigError(f"--out {out} is inside the index folder {index_path}: write the pairs outside it")
    written = export_pairs(read_decisions(index_path), out, force)
    click.echo(f"wrote {counted(written, 'pair')} to {out}")


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] DATA")
@click.option("--decisions", "decisions_path", required=True, type=click.Path(exists=False),
              help="An index folder holding decisions, or a pairs file of them (as `decisions export` writes).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), callback=named,
              help="Model folder to write.")
@click.option("--holdout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of decision queries kept out of the fit for choosing the thresholds.")
@click.option("--cache", type=click.Path(file_okay=False), callback=named,
              help="Folder keeping the out-of-fold vectors between refits [default: ~/.cache/qdup/refit].")
@click.option("--force", is_flag=True, help="Replace an existing model folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@threads_option()
def refit(args, decisions_path, out, holdout, cache, force, quiet):
    """Refit MODEL's scorer (both re-rankers and thresholds) on DATA, the pairs it was
    trained on, plus moderator decisions; the encoder is kept, so MODEL's indexes serve
    the new model as they are (`qdup serve --index INDEX --model NEW`).

    A share of the decision queries (--holdout) is held out: thresholds are chosen on the
    validation pairs and queries without any question a fitted decision touches, with
    the held-out verdicts. The first refit trains two out-of-fold encoders (minutes);
    later refits on the same DATA reuse their vectors from --cache.

    Without MODEL the built-in model is refit.

    \b
    Example:
      qdup refit pairs.tsv --decisions my-index --out models/refit
      qdup serve --index my-index --model models/refit
    """
    if len(args) not in (1, 2):
        raise ConfigError(f"expected [MODEL] DATA, got {len(args)} arguments")
    from .. import model
    from ..data.pairs import read_pairs
    from ..data.split import reference_split
    from ..search.decisions import read_decisions
    from ..search.index import Index
    from ..training.refit import decisions_from_pairs, nothing_to_learn, parted, refit as refit_model, refittable

    model.check_output(out, force)
    outside(out, args[-1], decisions_path)
    cache = cache or Path.home() / ".cache" / "qdup" / "refit"
    if within(cache, out):  # saving the model replaces that folder
        raise ConfigError(f"--cache {cache} is inside --out {out}, which the model replaces: keep the cache elsewhere")
    if Path(decisions_path).is_dir():
        Index.load(decisions_path)  # an index folder, with a readable manifest
        decided = read_decisions(decisions_path)
    else:
        decided = decisions_from_pairs(read_pairs(decisions_path))
    pairs = read_pairs(args[-1])
    with naming(args[-1]):
        split = reference_split(pairs)
    fitted, kept = parted(decided, holdout)
    if not fitted:  # before the model loads: none, or all held out for the thresholds
        raise DataError(f"{decisions_path}: {nothing_to_learn(len(kept), f'--holdout {holdout:g}')}")
    base = model.load(args[0] if len(args) == 2 else None)
    with naming(args[-1]):  # pairs other than the model's: the file named (the refit checks the model again)
        refittable(base, split)
    refitted = refit_model(base, pairs, decided, holdout=holdout, cache=cache, progress=not quiet, split=split)
    refitted.save(out, force=force)
    done, search = refitted.info["refit"], refitted.info.get("search_threshold")
    searched = (f"search threshold {search['threshold']:.4f} (precision {search['precision']:.3f}, "
                f"{search['flagged_share']:.1%} of {search['queries']} validation queries flagged)" if search else
                f"no search threshold ({done['search_threshold'].removeprefix('none: ')}; "
                "`qdup calibrate-search --precision P` stores one)")
    click.echo(f"saved {out}: learnt from {done['fitted']} decisions, {done['held_out']} held out; "
               f"threshold {refitted.threshold:.4f}, {searched}")
