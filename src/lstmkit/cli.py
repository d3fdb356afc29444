"""The ``lstmkit`` command: thin, parse arguments, call a task, print.

Each task module registers its own subcommand: a module listed in ``_COMMANDS`` defines
``add_parser(subparsers)``, which adds a parser whose ``func`` default takes the parsed
arguments and returns an exit code. Before the command runs, every flag is checked in
one place, :func:`lstmkit.spine.flags.check` (bounds, devices, backends, input paths,
output locations). User errors (:class:`lstmkit.errors.InputError`, a bad flag,
``FileNotFoundError``) print one line and exit 2; nothing else is swallowed. Ctrl-C
exits 130 (a training command first saves what it trained and says where).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand modules, in the order `lstmkit --help` lists them
_COMMANDS = (
    "lstmkit.info",
    "lstmkit.forecasting.cli",
    "lstmkit.textgen.cli",
    "lstmkit.classify.cli",
    "lstmkit.experiments.cli",
    "lstmkit.sequences.cli",
    "lstmkit.speech.cli",
    "lstmkit.seq2seq.cli",
    "lstmkit.video.cli",
    "lstmkit.export",
)


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error form: one line on stderr, exit status 2."""

    def error(self, message: str):
        """Print ``message`` as one line pointing to ``--help`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``lstmkit`` parser with every task's subcommand (a task whose module is not in
    this build is left out)."""
    parser = Parser(
        prog="lstmkit", description="LSTM networks on PyTorch: layers, backends and tasks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # a task whose module is not part of this build; other import errors propagate
            if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``lstmkit`` command.

    Args:
        argv: the arguments after ``lstmkit`` (None: ``sys.argv[1:]``).

    Returns:
        The exit status: the command's (0 on success), 2 for a user error (one line on
        stderr), 130 on Ctrl-C. Without a command it prints the help and returns 0.
    """
    from lstmkit.errors import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from lstmkit.spine.flags import check

    try:
        check(args)
        return int(args.func(args) or 0)
    except (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
            UnicodeDecodeError) as exc:
        line = str(exc).splitlines()[0] if str(exc) else repr(exc)
        print(f"lstmkit {args.command}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
