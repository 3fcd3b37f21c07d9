"""Index, search and mining commands: ``qdup index ...``, ``search``, ``mine``."""

from __future__ import annotations

import itertools
import json
import os

import click

from ..errors import ConfigError, DataError
from ..scoring.thresholds import DEFAULT_MINE_THRESHOLD, check_threshold
from ..search import backends
from . import cli, counted, named, outside, threads_option, where_option

# Each command imports what it uses (the index, corpus files, mining) when it runs:
# `qdup --help` and `qdup --version` then load click and nothing heavy (issue 20).

MODEL_HELP = "Model folder [default: the one that built the index, else the built-in model]."
SKIP_HELP = "Leave out rows whose question is empty (no words once punctuation is removed, say '.' or " \
            "'????') and say which, instead of refusing the file."


@cli.group()
def index() -> None:
    """Build and update a searchable index of questions.

    \b
    Example:
      qdup index build questions.csv --model models/quora --out my-index
    """


@index.command("build")
@click.argument("questions_file", metavar="QUESTIONS", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), callback=named,
              help="Index folder to write.")
@click.option("--model", "model_path", type=click.Path(), help="Model folder [default: the built-in model].")
@click.option("--backend", type=click.Choice(backends.BACKENDS.names), default="auto", show_default=True,
              help="exact search, HNSW (FAISS), auto: HNSW from 50,000 questions, or milvus (needs --uri).")
@click.option("--uri", help="milvus: a Milvus Lite file (./questions.db) or a server (http://host:19530); "
                            "a token is read from $QDUP_MILVUS_TOKEN.")
@click.option("--collection", help="milvus: the collection to create [default: questions].")
@click.option("--force", is_flag=True, help="Replace an existing index folder (and Milvus collection).")
@click.option("--skip-invalid", is_flag=True, help=SKIP_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def build(questions_file, out, model_path, backend, uri, collection, force, skip_invalid, quiet):
    """Encode a file of questions into a new index folder.

    QUESTIONS is CSV/TSV with a header (`question`, optional `id` column), JSONL
    ({"id": ..., "question": ...}) or plain text, one question per line. Other columns
    or fields (`url`, `title`, ...) are stored with each question and returned by search.

    With --backend milvus the file is read, encoded and stored 10,000 questions at a
    time, and a build that was stopped half way continues when run again.

    \b
    Example:
      qdup index build questions.csv --model models/quora --out my-index
      qdup index build questions.csv --out my-index --backend milvus --uri ./questions.db
    """
    from ..data.corpus import iter_questions
    from ..search.index import Index

    options = {"uri": uri, "collection": collection}
    backends.check(backend, options)  # before the slow encoding, not after
    Index.check_output(out, force)
    outside(out, questions_file, made="index")
    from .. import model  # torch: only for commands that encode

    skipped = [] if skip_invalid else None
    chunks = iter_questions(questions_file, backends.chunk_rows(backend), skipped)
    first = next(chunks)  # errors in the file come before the slow model load
    loaded = model.load(model_path)
    built = Index.build_chunks(
        loaded, _not_all_skipped(itertools.chain([first], chunks), skipped), out, backend=backend, force=force,
        progress=not quiet, model_path=model_path, options=options, resume_key=_input_key(questions_file),
    )
    click.echo(f"indexed {counted(len(built), 'question')} into {out}{_skipped(skipped)}")


def _not_all_skipped(chunks, skipped: list | None):
    """``chunks`` as they are read; a file whose every question --skip-invalid left out is
    refused saying so (it was "no questions to index", as if the file held none)."""
    from ..data.corpus import empty_rows

    kept = 0
    for chunk in chunks:
        kept += len(chunk.questions)
        yield chunk
    if skipped and not kept:
        raise DataError(f"no questions to index: --skip-invalid left out every one, {empty_rows(skipped)}")


def _skipped(skipped: list | None) -> str:
    from ..data.corpus import empty_rows

    return f"; skipped {empty_rows(skipped)}" if skipped else ""


def _input_key(path) -> str:
    """Which input a build reads: a stopped build continues only on the very same file."""
    st = os.stat(path)
    return f"{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"


@index.command("add")
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.argument("questions_file", metavar="QUESTIONS", type=click.Path(dir_okay=False))
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP)
@click.option("--skip-invalid", is_flag=True, help=SKIP_HELP)
@threads_option()
def add(index_path, questions_file, model_path, skip_invalid):
    """Add the questions of a file to an index (all of them, or none on error).

    \b
    Example:
      qdup index add my-index new-questions.jsonl
    """
    from ..data.corpus import iter_questions
    from ..search.index import Index

    opened = Index.load(index_path)
    skipped = [] if skip_invalid else None
    chunks = iter_questions(questions_file, backends.chunk_rows(opened.backend["backend"]), skipped)
    first = next(chunks)  # errors in the file come before the slow model load
    ids = opened.add_chunks(opened.model(model_path), itertools.chain([first], chunks))
    click.echo(f"added {counted(len(ids), 'question')} to {index_path} ({len(opened)} in all){_skipped(skipped)}")


@index.command("remove")
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
def remove(index_path, ids):
    """Remove questions by id (all of them, or none when an id is unknown).

    \b
    Example:
      qdup index remove my-index 17 42
    """
    from ..search.index import Index

    opened = Index.load(index_path)
    opened.remove(list(ids))  # all or none: each distinct id was removed once
    click.echo(f"removed {counted(len(set(ids)), 'question')} from {index_path} ({len(opened)} left)")


QUERY_BLOCK = 256  # queries searched at once with --queries


class MinScore(click.ParamType):
    """A score, or ``floor``: the model's search floor."""

    name = "SCORE|floor"

    def convert(self, value, param, ctx):
        if value == "floor" or isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"expected a number or 'floor', got {value!r}", param, ctx)
        return check_threshold(number)


@cli.command()
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.argument("question", required=False)
@click.option("--queries", "queries_file", type=click.Path(dir_okay=False),
              help="Search every question of this file instead (same formats as index build); "
                   "prints one JSON line per query, in input order.")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Matches to show.")
@click.option("--threshold", "-t", type=float, help="Only show matches scoring above this score.")
@click.option("--min-score", type=MinScore(), help="Only show matches scoring at least this "
              "(`floor`: the model's search floor, as the service and page use).")
@where_option()
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON.")
@threads_option(default=1)
def search(index_path, question, queries_file, k, threshold, min_score, where, model_path, as_json):
    """Find the stored questions most similar to QUESTION, best first.

    \b
    Example:
      qdup search my-index "How can I learn Python quickly?" -k 5
      qdup search my-index "pandas merge" --where status!=deleted --where tags=pandas
      qdup search my-index --queries new-questions.txt -k 3 > matches.jsonl
    """
    from ..data.corpus import read_questions
    from ..data.questions import check_question
    from ..search.index import Index

    if (question is None) == (queries_file is None):
        raise ConfigError("give one QUESTION or --queries FILE")
    if threshold is not None:
        check_threshold(threshold)  # before loading a model, not after
    if question is not None:
        question = check_question(question)  # "the question is empty": one question, no number
    opened = Index.load(index_path)
    searcher = opened.model(model_path)
    floor = searcher.search_floor if min_score == "floor" else min_score
    options = {"where": where, "min_score": floor}
    if queries_file is not None:
        queries = read_questions(queries_file)
        for start in range(0, len(queries), QUERY_BLOCK):
            block = queries.questions[start : start + QUERY_BLOCK]
            ids = [None] * len(block) if queries.ids is None else queries.ids[start : start + QUERY_BLOCK]
            for i, query, result in zip(ids, block, opened.search(searcher, block, k, threshold, **options)):
                line = {"question": query, "matches": result.matches(searcher)}
                click.echo(json.dumps(line if i is None else {"id": i, **line}, ensure_ascii=False))
        return
    [result] = opened.search(searcher, [question], k, threshold, **options)
    matches = result.matches(searcher)
    if as_json:
        click.echo(json.dumps(matches, ensure_ascii=False))
    elif not matches:
        click.echo("no matches")
    for m in [] if as_json else matches:
        link = f"  {m['metadata']['url']}" if isinstance(m["metadata"].get("url"), str) else ""
        mark = "  (likely duplicate)" if m["likely_duplicate"] else ""
        click.echo(f"{m['score']:.4f}  {m['id']}  {m['question']}{link}{mark}")


@cli.command()
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), callback=named,
              help="File to write: .jsonl (JSON Lines) or, for pairs only, .csv.")
@click.option("--threshold", "-t", type=float, help="Score above which two questions match "
              f"[default: the model's search threshold, else {DEFAULT_MINE_THRESHOLD}].")
@click.option("--top-k", type=click.IntRange(min=1), help="Per question, its K best matches (one JSON line each).")
@click.option("--groups", is_flag=True, help="Groups of duplicates: a canonical question and its members.")
@click.option("--max-group-size", type=click.IntRange(min=2), default=20, show_default=True,
              help="With --groups: most questions in one group.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@where_option("Only mine questions")
@click.option("--new-since", metavar="DATE", help="Only look for duplicates of the questions created on or after "
              "DATE (their `created` field), among all stored ones.")
@click.option("--ids", "ids_file", type=click.Path(dir_okay=False),
              help="Only look for duplicates of the questions whose ids this file lists (one a line).")
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP)
@click.option("--no-pair-verdict", "no_verdict", is_flag=True,
              help="Also keep matches the model's pair scorer judges not duplicates (look-alikes such as "
                   "'Divorce in Nepal?' and 'Divorce in Armenia?'); a search never flags those.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def mine(index_path, out, threshold, top_k, groups, max_group_size, force, where, new_since, ids_file, model_path,
         no_verdict, quiet):
    """Find duplicates among the stored questions: pairs, top matches per question, or groups.

    Groups never chain: every member scores above the threshold against its group's
    canonical question: the oldest (then the most answered) when questions have the
    forum fields `created` and `answers`, else the one with the most matches. With
    --new-since or --ids only new questions are searched, against the whole archive.
    With the built-in model (or any re-ranking one), a match must also be judged a
    duplicate by its pair scorer, as a search's "likely duplicate" flag asks.

    \b
    Example:
      qdup mine my-index --groups --out groups.jsonl
      qdup mine my-index --top-k 3 --out top3.jsonl
      qdup mine my-index --threshold 0.9 --out pairs.csv
      qdup mine my-index --groups --new-since 2024-06-01 --where status!=deleted --out new-groups.jsonl
    """
    from ..mining.incremental import created_since, read_ids
    from ..mining.output import mine_to_file
    from ..util.atomic import check_new_file
    from ..search.index import Index

    if top_k and groups:
        raise ConfigError("use --top-k or --groups, not both")
    if new_since and ids_file:
        raise ConfigError("use --new-since or --ids, not both")
    if not out.lower().endswith((".jsonl", ".csv")) or (out.lower().endswith(".csv") and (top_k or groups)):
        raise ConfigError("--out must end in .jsonl (or .csv for pairs)")
    check_new_file(out, force)  # before the slow part
    opened = Index.load(index_path)
    new = created_since(opened, new_since) if new_since else read_ids(opened, ids_file) if ids_file else None
    mined = mine_to_file(opened, out, threshold, top_k=top_k, groups=groups, max_group_size=max_group_size,
                         force=force, progress=not quiet, where=where, new=new,
                         model=opened.model(model_path) if model_path else None, verdict=not no_verdict)
    what = {"pairs": counted(mined.count, "pair"), "top_k": f"top matches of {counted(mined.count, 'question')}",
            "groups": f"{counted(mined.count, 'group')} covering {counted(mined.grouped_questions, 'question')}",
            }[mined.kind]
    click.echo(f"wrote {what} (threshold {mined.threshold:.4f}) to {out}")
