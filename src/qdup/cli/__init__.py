"""The ``qdup`` command line: a thin skin over the library.

Each command parses its arguments, makes one library call and prints. Library errors
(:class:`qdup.errors.QdupError`) and usage errors become one line on stderr and exit code 1.
"""

from __future__ import annotations

import sys

import click

from ..errors import QdupError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qdup")
def cli() -> None:
    """qdup: find duplicate questions with a Siamese LSTM encoder."""


def _register() -> None:
    # Command modules register themselves on `cli` when imported.
    from . import pairs_commands  # noqa: F401
    from . import search_commands  # noqa: F401
    from . import vector_commands  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qdup`` script; returns the exit code."""
    _register()
    try:
        cli.main(args=argv, prog_name="qdup", standalone_mode=False)
    except QdupError as error:
        click.echo(f"Error: {error}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("Error: interrupted", err=True)
        return 1
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 1
    except OSError as error:  # unreadable input, unwritable output, full disk...
        where = f"{error.filename}: " if error.filename else ""
        click.echo(f"Error: {where}{error.strerror or error}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
