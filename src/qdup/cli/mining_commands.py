"""The mining command: ``qdup mine`` (pairs, top matches or groups of duplicates among stored questions)."""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..mining.output import DEFAULT_MINE_THRESHOLD, check_output, mine_to_file
from ..search.index import Index
from . import cli, threads_option, where_option
from .search_commands import MODEL_HELP


@cli.command()
@click.argument("index_path", metavar="INDEX", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
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
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@threads_option()
def mine(index_path, out, threshold, top_k, groups, max_group_size, force, where, new_since, ids_file, model_path,
         quiet):
    """Find duplicates among the stored questions: pairs, top matches per question, or groups.

    Groups never chain: every member scores above the threshold against its group's
    canonical question: the oldest (then the most answered) when questions have the
    forum fields `created` and `answers`, else the one with the most matches. With
    --new-since or --ids only new questions are searched, against the whole archive.

    \b
    Example:
      qdup mine my-index --groups --out groups.jsonl
      qdup mine my-index --top-k 3 --out top3.jsonl
      qdup mine my-index --threshold 0.9 --out pairs.csv
      qdup mine my-index --groups --new-since 2024-06-01 --where status!=deleted --out new-groups.jsonl
    """
    from ..mining.incremental import created_since, read_ids

    if top_k and groups:
        raise ConfigError("use --top-k or --groups, not both")
    if new_since and ids_file:
        raise ConfigError("use --new-since or --ids, not both")
    if not out.lower().endswith((".jsonl", ".csv")) or (out.lower().endswith(".csv") and (top_k or groups)):
        raise ConfigError("--out must end in .jsonl (or .csv for pairs)")
    check_output(out, force)  # before the slow part
    opened = Index.load(index_path)
    new = created_since(opened, new_since) if new_since else read_ids(opened, ids_file) if ids_file else None
    mined = mine_to_file(opened, out, threshold, top_k=top_k, groups=groups, max_group_size=max_group_size,
                         force=force, progress=not quiet, where=where, new=new,
                         model=opened.model(model_path) if model_path else None)
    what = {"pairs": f"{mined.count} pair{'' if mined.count == 1 else 's'}",
            "top_k": f"top matches of {mined.count} questions",
            "groups": f"{mined.count} groups covering {mined.grouped_questions} questions"}[mined.kind]
    click.echo(f"wrote {what} (threshold {mined.threshold:.4f}) to {out}")
