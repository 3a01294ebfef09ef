"""How every command runs: one kind of parser, one exit-code rule, one line per expected error.

Every command (`python -m lpips_tf`, train.py, evaluate.py, experiment.py,
`python -m lpips_tf.data.synthetic`, `python -m lpips_tf.data.download`) is a `Command`: a
function building its `ArgumentParser` and a function running the parsed arguments. Called as
`command(argv)` it returns the exit code (what the tests use); `run_script(command)` runs it as the
program, under `absl.app.run`.

The exit codes (README, "Exit codes"):

  0  done;
  1  done, but some inputs were skipped (each one named on stderr as it was met);
  2  bad usage or bad input: a bad flag, missing or damaged data, a weight file that cannot be
     read or downloaded, an output that cannot be written. One line on stderr, `error: ...`, and
     the commands find these before they write anything.

The expected errors are `ValueError` (bad values: `ConfigError`, `DataError`, `PthError`, an
unreadable image, ...) and `OSError` (files and downloads: `FileNotFoundError`, `OutputError`,
`WeightsDownloadError`, `DownloadError`, a locked run folder, ...). Anything else is a bug and
keeps its traceback.

The parsers are `absl.flags.argparse_flags` parsers: argparse, with absl's own flags
(`--verbosity`, ...) accepted too, and no flag in absl's global registry, so that several
commands can be built and run in one process. Nothing here imports TensorFlow or Keras.
"""

import argparse
import re
import sys

from absl.flags import argparse_flags

__all__ = ["EXIT_DONE", "EXIT_SKIPPED", "EXIT_USAGE", "EXPECTED_ERRORS", "ArgumentParser",
           "Command", "UsageError", "add_bool", "comma_list", "one_line", "run_script"]

EXIT_DONE = 0
EXIT_SKIPPED = 1
EXIT_USAGE = 2


class UsageError(ValueError):
    """A command line that parses but cannot run (a flag that needs another, say)."""


EXPECTED_ERRORS = (ValueError, OSError)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(error):
    """An error's message on one line, without the wrapping Keras adds to errors raised inside a
    model call ("Exception encountered when calling ...", ANSI codes, the arguments received)."""
    lines = _ANSI.sub("", str(error)).strip().splitlines()
    if lines and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]
    kept = []
    for line in lines:
        if line.startswith("Arguments received by"):
            break
        kept.append(line.strip())
    return " ".join(line for line in kept if line) or type(error).__name__


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; each flag's default after its help, unless the help already
    names it or there is none to show (None, empty, or False for an on/off flag)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "(default" in text or default is None or default is False
                or default is argparse.SUPPRESS or default in ("", [], ())
                or not action.option_strings):
            return text
        if isinstance(default, (list, tuple)):
            default = ",".join(str(v) for v in default)
        return f"{text} (default: {str(default).replace('%', '%%')})"


class ArgumentParser(argparse_flags.ArgumentParser):
    """The commands' parser: defaults shown in `--help`, and a usage error as one line."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _truth(text):
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_bool(parser, name, default, help):
    """An on/off flag spelled as absl spells them: `--name`, `--noname`, `--name=false`."""
    parser.add_argument(f"--{name}", nargs="?", const=True, default=default, type=_truth,
                        metavar="true|false", help=help)
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def comma_list(text):
    """A comma-separated flag value as a list of its non-empty items."""
    return [item.strip() for item in str(text).split(",") if item.strip()]


class Command:
    """A command: `build_parser()` makes its parser, `run(args)` does the work and returns an exit
    code (None: `EXIT_DONE`). Calling it with `argv` (without the program name; None:
    `sys.argv[1:]`) parses, runs and returns the exit code, under the rule above."""

    def __init__(self, build_parser, run):
        self.build_parser = build_parser
        self.run = run

    def parse(self, argv):
        return self.build_parser().parse_args(argv)

    def __call__(self, argv=None):
        try:
            args = self.parse(argv)
        except SystemExit as done:  # --help (0), or a usage error already printed (2)
            return EXIT_DONE if done.code is None else done.code
        return self.run_parsed(args)

    def run_parsed(self, args):
        try:
            code = self.run(args)
        except EXPECTED_ERRORS as error:
            print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
            return EXIT_USAGE
        return EXIT_DONE if code is None else code


def run_script(command):
    """Runs `command` as the program: `absl.app.run` (absl's logging and its debugging flags)
    with the command's parser, then exits with its code."""
    from absl import app

    app.run(command.run_parsed, flags_parser=lambda argv: command.parse(argv[1:]))
