"""The ``qdup`` command line: a thin skin over the library.

Each command parses its arguments, makes one library call and prints. Library errors
(:class:`qdup.errors.QdupError`) and usage errors become one line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..errors import ConfigError, DataError, OutputError, QdupError
from ..util import collector
from ..util.threads import use_threads


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qdup")
def cli() -> None:
    """qdup: find duplicate questions with a Siamese LSTM encoder."""


def threads_option(default: int | None = None):
    """``--threads N``: CPU threads for the command's work (one pair or question needs one)."""
    shown = "[default: 1]" if default else "[default: all cores]"

    def apply(ctx, param, value):
        if value or default:  # for this command only: main() may be called in-process again
            ctx.call_on_close(use_threads(value or default))

    return click.option("--threads", type=click.IntRange(min=1), expose_value=False, callback=apply,
                        help=f"CPU threads to use {shown}.")


def where_option(what: str = "Only questions"):
    """``--where COND`` (repeatable): conditions on forum fields, parsed (and refused) before any slow work."""

    def parse(ctx, param, value):
        from ..search.filters import parse_filter

        return parse_filter(value)

    return click.option("--where", multiple=True, metavar="COND", callback=parse,
                        help=f"{what} passing this condition (repeatable, all must hold): FIELD OP VALUE on "
                             "status, category, tags, created, answers, duplicate_of; e.g. status!=deleted, "
                             "tags=python|pandas, created>=2024-01-01.")


@contextlib.contextmanager
def naming(data_file):
    """A data error raised while ``data_file``'s pairs are split or calibrated on ("too few
    duplicate pairs to split") names the file, as its reading's errors do."""
    try:
        yield
    except DataError as error:
        if str(error).startswith(str(Path(data_file))):
            raise
        raise type(error)(f"{Path(data_file)}: {error}") from None


def named(ctx, param, value):
    """An output option's callback (``--out``): "" is refused, not read as the working folder
    (which ``--force`` would try to replace, and a write lock would leave a file in)."""
    if value == "":
        raise ConfigError(f"{param.opts[0]} must name a {'file' if param.type.file_okay else 'folder'}")
    return value


def within(path, folder) -> bool:
    """Whether ``path`` is ``folder`` or inside it, links followed (a link into it counts)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def outside(out, *inputs, made: str = "model") -> None:
    """Refuse an input at or inside the output folder, which ``--force`` replaces with the new
    ``made`` (the file it was made from lost with the old one); None inputs are skipped."""
    for given in inputs:
        if given is not None and within(given, out):
            raise ConfigError(f"{given} is inside --out {out}, which the new {made} replaces: move it out first")


def counted(n: int, noun: str) -> str:
    """``"1 question"``, ``"5 questions"``: a count as every command prints it."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def search_threshold(folder, saved, labelled, calibrate: bool, quiet: bool) -> str | None:
    """For a model just saved in ``folder``: choose its search threshold on ``labelled``'s
    validation queries as `qdup calibrate-search` does (precision 0.8) and store it in its
    config.json, so its searches flag likely duplicates from the start. The line to print
    (None when ``calibrate`` is off: the recipe keeps fixed thresholds). It comes after the
    save: validation queries no threshold suits, or a full disk under the temporary index,
    leave the trained model saved without one, and the line says why."""
    from .. import model
    from ..evaluation.search_calibration import DEFAULT_PRECISION, store_search_threshold
    from ..util.progress import log

    if not calibrate:
        return None
    if not quiet:
        log("choosing the search threshold on the validation queries")
    try:
        calibration, missing = store_search_threshold(saved, labelled, DEFAULT_PRECISION)
        if calibration is not None:
            model.write_config_entries(folder, search_threshold=calibration.to_dict())
    except (OutputError, OSError) as error:
        calibration, missing = None, str(error)
    if calibration is None:
        return f"no search threshold ({missing}): `qdup calibrate-search --precision P` can store one"
    return calibration.summary()


def main(argv: list[str] | None = None) -> int:
    """The command line ``argv`` (default: ``sys.argv[1:]``) run; returns the exit code."""
    try:
        cli.main(args=argv, prog_name="qdup", standalone_mode=False)
    except QdupError as error:
        return _fail(str(error))
    except (click.exceptions.Abort, KeyboardInterrupt):
        return _fail("interrupted")
    except click.ClickException as error:
        return _fail(error.format_message())
    except OSError as error:  # unreadable input, unwritable output, full disk...
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}")
    return 0


def program() -> int:
    """The ``qdup`` program: :func:`main` with the cycle collector off until torch is imported,
    whose objects it then never walks again (:mod:`qdup.util.collector`). A program calling
    :func:`main` itself keeps its collector as it set it."""
    collector.pause()
    try:
        return main()
    finally:
        collector.resume()


def _fail(message: str) -> int:
    # A path or argument holding undecodable bytes (lone surrogates) would make the
    # error line itself fail to print: escape them instead.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    click.echo(f"Error: {message}", err=True)
    return 1


# The command modules register their commands on `cli` when imported (they import `cli` and
# `threads_option` from here, hence last); none of them imports torch at import time.
from . import (pairs_commands, search_commands, serve_command, vector_commands, model_commands,  # noqa: E402, F401
               forum_commands, upkeep_commands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(program())
