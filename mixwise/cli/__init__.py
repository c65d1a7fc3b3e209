"""The ``mixwise`` command line: thin commands over the Python API.

Every module in this package that defines ``register(app)`` adds its
commands; each command's docstring is its ``--help`` and includes an example.
Domain errors (:class:`mixwise.errors.MixwiseError`) become one clean line
here, at the boundary; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Optional

import click
import typer
from rich.markup import escape

from mixwise import __version__
from mixwise.cli._common import err_console, state
from mixwise.errors import MixwiseError

app = typer.Typer(
    name="mixwise",
    help="Curate, mix, train and evaluate instruction-finetuning data.\n\nExample: mixwise demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mixwise {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    workspace: Optional[str] = typer.Option(
        None, "--workspace", "-w", envvar="MIXWISE_HOME", help="Directory holding all mixwise state (default ./.mixwise)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Curate, mix, train and evaluate instruction-finetuning data.

    Example: mixwise demo
    """
    state.workspace = workspace
    state.debug = debug


def _register_commands() -> None:
    """Import every command module (sorted by name) and let it add its commands."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI with clean one-line errors."""
    command = typer.main.get_command(app)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("MIXWISE_DEBUG"))
    try:
        rv = command.main(args=argv, prog_name="mixwise", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except MixwiseError as e:
        if debug or state.debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(e.line())}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the boundary: one line unless --debug
        if debug or state.debug:
            raise
        err_console.print(
            f"[bold red]error:[/] {type(e).__name__}: {escape(str(e))}; re-run with --debug for the traceback", highlight=False, soft_wrap=True
        )
        sys.exit(1)
