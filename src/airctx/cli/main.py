"""The ``airctx`` command line: parse, call one pipeline function, render.

Every option can also be set with an ``AIRCTX_*`` environment variable: group
options as ``AIRCTX_<OPTION>`` (``AIRCTX_BACKEND``, ``AIRCTX_DATA_DIR``) and command
options as ``AIRCTX_<COMMAND>_<OPTION>``; ``--output`` and ``--quiet`` read
``AIRCTX_OUTPUT`` and ``AIRCTX_QUIET`` everywhere.

Exit codes: 0 success, 1 failure (``Error: ...`` on stderr), 2 usage error (a bad
option or variable, including a file given with -c/--input that is not a file), 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from airctx import __version__
from airctx.cli.output import Output
from airctx.cli.paths import Place, blocking_file, describe, not_a_folder
from airctx.errors import AirctxError, ContextError, OptionError

if TYPE_CHECKING:
    from airctx.config import Settings
    from airctx.pipeline.project import Project

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)


# GetPersonalizedRanking's inputList limit (50 when item metadata is returned).
MAX_RANKED_ITEMS = 500

WAITING_COMMANDS = ("import", "train", "deploy", "run", "wait", "teardown")


# Characters a terminal acts on instead of showing (C0 and C1 controls, DEL), bar
# the newline and tab a message may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(message: str) -> str:
    """``message`` with control characters (from a file's bytes, say) escaped as
    Python writes them, so that an error line never drives the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)


def _name_the_variable(exc: click.BadParameter) -> None:
    """Name the environment variable a bad value came from beside the flag, as
    Click names only the flag (`AIRCTX_RECOMMEND_NUM_RESULTS=abc` would otherwise
    read as a mistake in a `--num-results` nobody typed)."""
    ctx, param = exc.ctx, exc.param
    if ctx is None or not isinstance(param, click.Option) or param.name is None:
        return
    source = ctx.get_parameter_source(param.name)
    if source is not click.core.ParameterSource.ENVIRONMENT:
        return
    if param.envvar:
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
    elif ctx.auto_envvar_prefix:
        names = [f"{ctx.auto_envvar_prefix}_{param.name.upper()}"]
    else:
        return
    given = next((n for n in names if os.environ.get(n)), None)
    if given is None or given in exc.message:
        return
    hint = param.get_error_hint(ctx) if exc.param_hint is None else exc.param_hint
    exc.param_hint = f"{hint} (from {given})"


class _VariableNamingParse(click.Command):
    """Parsing that names the environment variable behind a bad option value."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.BadParameter as exc:
            _name_the_variable(exc)
            raise


class AirctxCommand(_VariableNamingParse):
    """A command whose bad context key or input path is a usage error showing its
    own usage."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ContextError, OptionError) as exc:
            # A context key the schema lacks, or an --input that is not a file, is
            # a mistake in the command line.
            raise click.UsageError(printable(str(exc)), ctx) from exc


class AirctxGroup(_VariableNamingParse, click.Group):
    """The error boundary: airctx errors become ``Error: ...`` and exit code 1."""

    command_class = AirctxCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AirctxError as exc:
            raise click.ClickException(printable(str(exc))) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # Click's own handling of a closed pipe (e.g. `| head`)
            log.debug("file-system error", exc_info=True)
            app = ctx.obj if isinstance(ctx.obj, App) else None
            places = app.places() if app is not None else []
            raise click.ClickException(printable(describe(exc, places))) from exc
        except KeyboardInterrupt:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            click.echo("\nInterrupted; " + _kept(ctx.invoked_subcommand, app), err=True)
            ctx.exit(130)


def _kept(command: str | None, app: App | None) -> str:
    """What an interrupted command leaves behind, in one sentence."""
    if command in WAITING_COMMANDS:
        # Only the waiting stops: imports and training run on the backend.
        return (
            "work already started goes on running on the backend; `airctx status` "
            "shows it and `airctx wait` (or running the same command again) picks "
            "it up."
        )
    if command == "prep-data":
        settings = app._settings if app is not None else None
        where = f" in {settings.data.output_dir}" if settings is not None else ""
        return (
            f"the prepared files{where} are as they were: they are replaced only "
            "once the new ones are complete."
        )
    if command == "create-schemas":
        return (
            "what was created is kept; running `airctx create-schemas` again finds "
            "it and creates the rest."
        )
    if command == "track-event":
        return "the event may or may not have been recorded."
    return "nothing was changed."


@dataclass
class App:
    """The composition point: settings, output and clients, each built once."""

    config: str | None
    overrides: dict[str, Any]
    output: Output = field(default_factory=Output)
    # How each aws-only override was given (flag or variable), to name it in errors.
    aws_only: dict[str, str] = field(default_factory=dict)
    # The flag or variable that gave the state folder, if one did.
    state_dir_given: str | None = None
    _settings: Settings | None = None
    _project: Project | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from airctx.config import load_settings

            settings = load_settings(self.config, self.overrides)
            _refuse_aws_only_options(settings, self.aws_only)
            self._settings = settings
        return self._settings

    def places(self) -> list[Place]:
        """The folders settings chose, to name the setting in a file-system error."""
        settings = self._settings
        if settings is None:
            return []
        in_file = f" in {settings.config_path}" if settings.config_path else ""
        return [
            Place(
                "the local state folder",
                settings.state_dir,
                self.state_dir_given or f"state_dir{in_file}",
            ),
            Place(
                "the prepared-data folder",
                settings.data.output_dir,
                f"data.output_dir{in_file}",
            ),
        ]

    def project(self, *, wait: bool = True) -> Project:
        if self._project is None:
            from airctx.aws.factory import clients_for
            from airctx.pipeline.project import Project
            from airctx.pipeline.waiter import Waiter

            settings = self.settings()
            waiter = Waiter(
                poll_seconds=settings.waits.poll_seconds,
                max_poll_seconds=settings.waits.max_poll_seconds,
                report=self.output.state,
            )
            self._project = Project(
                settings,
                clients_for(settings),
                report=self.output.progress,
                waiter=waiter,
            )
        self._project.wait = wait
        return self._project


pass_app = click.make_pass_decorator(App)

# Global options that only the aws backend reads, by their settings key.
AWS_ONLY_OPTIONS = {
    "endpoint_url": ("--endpoint-url", ("AIRCTX_ENDPOINT_URL",)),
    "services_endpoint_url": (
        "--services-endpoint-url",
        ("AIRCTX_AWS_SERVICES_ENDPOINT_URL", "AIRCTX_SERVICES_ENDPOINT_URL"),
    ),
}


def _refuse_aws_only_options(settings: Settings, given: dict[str, str]) -> None:
    """An aws-only option given for the local backend would silently do nothing.

    Values from the configuration file are left alone: a file may hold the aws
    settings of a project that is run locally too.
    """
    if settings.backend == "aws" or not given:
        return
    names = " and ".join(given.values())
    verb = "applies" if len(given) == 1 else "apply"
    raise click.UsageError(
        f"{names} only {verb} to the aws backend, and the backend is "
        f"{settings.backend!r}; the local engine runs in-process. To talk to "
        "`airctx serve`, add --backend aws, e.g. "
        "`airctx --backend aws --endpoint-url http://127.0.0.1:8642 status`"
    )


def _given_as(
    ctx: click.Context, name: str, flag: str, variables: tuple[str, ...]
) -> str:
    """How an option reached the command line: its flag or the variable that set it."""
    if ctx.get_parameter_source(name) is not click.core.ParameterSource.ENVIRONMENT:
        return flag
    return next((v for v in variables if os.environ.get(v)), variables[-1])


def _endpoint_url(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """botocore only fails on a URL without a scheme once a client is built."""
    if value is None or value.startswith(("http://", "https://")):
        return value
    suggestion = value.split("://", 1)[-1]
    raise click.BadParameter(
        f"{value!r} is not a URL; give it with its scheme, e.g. http://{suggestion}"
    )


def _config_file(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A configuration file that is not there is a mistake in the command line."""
    if value is None or Path(value).is_file():
        return value
    problem = "is not a file" if Path(value).exists() else "does not exist"
    raise click.BadParameter(
        f"{value} {problem}; give the project's airctx.yaml (default: "
        "./config/airctx.yaml)"
    )


def _state_dir(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A file where a parent folder should be would only fail once state is written."""
    blocker = blocking_file(Path(value)) if value else None
    if blocker is not None:
        raise click.BadParameter(
            f"{value}: {not_a_folder(blocker)}; give a folder airctx can "
            "create and write in"
        )
    return value


# An example of each kind of id, for the message about an empty one.
ID_EXAMPLES = {
    "user_id": "a user id, e.g. JDowns",
    "item_id": "an item id, e.g. emirates",
    "session_id": "a session id, e.g. JDowns-trip-1, or leave --session out",
}

# What each kind of id is called in the message about a too long one.
ID_KINDS = {"user_id": "user", "item_id": "item", "session_id": "session"}


def _non_blank(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """An empty or too long id would only be refused by the service, in its own
    words (botocore checks no maximum length, and the local engine takes any)."""
    if value is None:
        return value
    if not value.strip():
        example = ID_EXAMPLES.get(param.name or "", "an id")
        raise click.BadParameter(f"is empty; give {example}")
    _check_id_length(value, ctx.command.name or "", param.name or "")
    return value


def _check_id_length(value: str, command: str, param: str) -> None:
    from airctx.pipeline.query import id_length_limit

    limit = id_length_limit(command, param)
    if limit is not None and len(value) > limit:
        kind = ID_KINDS.get(param, "item")
        raise click.BadParameter(
            f"is {len(value)} characters long; Personalize takes {kind} ids of at "
            f"most {limit} characters"
        )


# An example of each number option, for the message about nan or inf.
NUMBER_EXAMPLES = {"value": "--value 8", "timeout": "--timeout 7200"}


def _finite(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """Click's float takes nan and inf, which no event value or timeout can be."""
    if value is not None and not math.isfinite(value):
        example = NUMBER_EXAMPLES.get(param.name or "", "a number")
        raise click.BadParameter(f"{value} is not a finite number; give e.g. {example}")
    return value


def output_options(func: F) -> F:
    """``--output`` and ``--quiet``, shared by every command that prints results."""
    func = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        envvar="AIRCTX_QUIET",
        help="No progress lines on stderr; results only.",
    )(func)
    return click.option(
        "--output",
        "-o",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        envvar="AIRCTX_OUTPUT",
        show_default=True,
        help="Result format on stdout.",
    )(func)


def input_options(command: str) -> Callable[[F], F]:
    """``--input``, ``--input-format`` and ``--users-input``, for the commands that
    prepare data."""
    prefix = "AIRCTX_" + command.upper().replace("-", "_")

    def decorate(func: F) -> F:
        func = click.option(
            "--users-input",
            type=click.Path(dir_okay=False),
            envvar=f"{prefix}_USERS_INPUT",
            help="A Personalize-format users CSV (the users schema's columns) to use "
            "as the user metadata instead of deriving it from the reviews, relative "
            "to the current folder (default: data.users_input from the "
            "configuration, relative to the data folder).",
        )(func)
        func = click.option(
            "--input-format",
            type=click.Choice(["auto", "skytrax", "personalize"]),
            help="Raw Skytrax airline.csv or Personalize-format interactions "
            "(default: data.input_format).",
        )(func)
        return click.option(
            "--input",
            "input_path",
            type=click.Path(dir_okay=False),
            envvar=f"{prefix}_INPUT",
            help="Input CSV, relative to the current folder (default: data.input "
            "from the configuration, relative to the data folder).",
        )(func)

    return decorate


def wait_option(func: F) -> F:
    return click.option(
        "--no-wait",
        is_flag=True,
        help="Return as soon as the work is started instead of waiting for it.",
    )(func)


def replace_option(func: F) -> F:
    return click.option(
        "--replace",
        is_flag=True,
        help="Let a FULL import drop interactions imported before that the prepared "
        "file lacks, or users and items it leaves out (otherwise refused, nothing "
        "imported).",
    )(func)


class ContextPair(click.ParamType[str]):
    """One ``KEY=VALUE`` context pair.

    Several pairs in one environment variable are separated by ``;`` or newlines:
    Click's default split on whitespace would cut ``CABIN_TYPE=First Class`` in two.
    """

    name = "KEY=VALUE"

    def split_envvar_value(self, rv: str) -> list[str]:
        pieces = rv.replace("\n", ";").split(";")
        return [piece.strip() for piece in pieces if piece.strip()]


def context_option(what: str) -> Callable[[F], F]:
    """``--context``, for every command that sends context with a request."""
    return click.option(
        "--context",
        "context",
        multiple=True,
        type=ContextPair(),
        metavar="KEY=VALUE",
        help=f"Context of the {what}; repeatable. In the environment variable, "
        'separate pairs with ";" (values may hold spaces).',
    )


def _set_output(app: App, output_format: str, quiet: bool) -> None:
    app.output.format = output_format
    app.output.quiet = quiet or app.output.quiet


def parse_context(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE (e.g. CABIN_TYPE=Economy)",
                param_hint="--context",
            )
        if key.strip() in out:
            raise click.BadParameter(
                f"{key.strip()} is given twice; give each context key once",
                param_hint="--context",
            )
        out[key.strip()] = value.strip()
    return out


def parse_items(value: str) -> list[str]:
    """The item ids of ``--items``; the service refuses an empty or too long list."""
    items = [i.strip() for i in value.split(",") if i.strip()]
    if not items:
        raise click.BadParameter(
            "holds no item ids; give them comma-separated, e.g. "
            "--items emirates,lufthansa",
            param_hint="--items",
        )
    if len(items) > MAX_RANKED_ITEMS:
        raise click.BadParameter(
            f"holds {len(items)} item ids; a personalized ranking takes at most "
            f"{MAX_RANKED_ITEMS}",
            param_hint="--items",
        )
    from airctx.pipeline.query import id_length_limit

    limit = id_length_limit("rank", "items")
    too_long = [n for n, i in enumerate(items, 1) if limit and len(i) > limit]
    if too_long:
        first = items[too_long[0] - 1]
        more = f" (and {len(too_long) - 1} more)" if len(too_long) > 1 else ""
        raise click.BadParameter(
            f"item {too_long[0]} ('{first[:20]}...') is {len(first)} characters "
            f"long{more}; Personalize takes item ids of at most {limit} characters",
            param_hint="--items",
        )
    return items


@click.group(
    cls=AirctxGroup,
    context_settings={
        "auto_envvar_prefix": "AIRCTX",
        "help_option_names": ["-h", "--help"],
    },
)
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    envvar="AIRCTX_CONFIG",
    callback=_config_file,
    help="Configuration file (default: ./config/airctx.yaml).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "aws"]),
    help="local: the embedded engine (default); aws: Amazon Personalize.",
)
@click.option("--region", help="AWS region (also for the local engine's ARNs).")
@click.option("--profile", help="AWS profile for the aws backend.")
@click.option(
    "--endpoint-url",
    callback=_endpoint_url,
    help="With --backend aws: the Personalize endpoint, e.g. an `airctx serve` URL "
    "(a usage error with the local backend).",
)
@click.option(
    "--services-endpoint-url",
    envvar=["AIRCTX_AWS_SERVICES_ENDPOINT_URL", "AIRCTX_SERVICES_ENDPOINT_URL"],
    callback=_endpoint_url,
    help="With --backend aws: the S3/IAM/STS endpoint (e.g. a moto server).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    callback=_state_dir,
    help="Where the local engine keeps its state.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Where the input data lives (the Skytrax folder).",
)
@click.option("--project", help="Project name: the dataset group and name prefix.")
@click.option("-v", "--verbose", count=True, help="-v for INFO logs, -vv for DEBUG.")
@click.option("--debug", is_flag=True, help="DEBUG logging to stderr (same as -vv).")
@click.version_option(__version__, prog_name="airctx")
@click.pass_context
def cli(
    ctx: click.Context,
    config: str | None,
    backend: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    services_endpoint_url: str | None,
    state_dir: str | None,
    data_dir: str | None,
    project: str | None,
    verbose: int,
    debug: bool,
) -> None:
    """Context-aware recommendations on Amazon Personalize.

    The local backend (the default) runs an embedded Personalize engine, so the
    whole pipeline works without an AWS account.

    Exit codes: 0 success, 1 failure (an "Error:" line says what and what to do),
    2 usage error (a bad option or variable, including a --config or --input that
    is not a file), 130 interrupted (Ctrl-C). Every option can be set from the
    environment: AIRCTX_<OPTION> for the options here, AIRCTX_<COMMAND>_<OPTION>
    for a command's, AIRCTX_OUTPUT and AIRCTX_QUIET everywhere.

    \b
    Shell completion (bash; zsh_source and fish_source for the others):
      eval "$(_AIRCTX_COMPLETE=bash_source airctx)"

    \b
    Example:
      airctx run
      airctx recommend --user JDowns --context "CABIN_TYPE=First Class"
    """
    level = (
        logging.DEBUG
        if debug or verbose >= 2
        else (logging.INFO if verbose == 1 else logging.WARNING)
    )
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    # basicConfig leaves an already configured root alone; the level is set anyway.
    logging.getLogger().setLevel(level)
    overrides = {
        "backend": backend,
        "region": region,
        "profile": profile,
        "endpoint_url": endpoint_url,
        "services_endpoint_url": services_endpoint_url,
        "state_dir": state_dir,
        "data_dir": data_dir,
        "project": project,
    }
    aws_only = {
        key: _given_as(ctx, key, flag, variables)
        for key, (flag, variables) in AWS_ONLY_OPTIONS.items()
        if overrides[key] is not None
    }
    state_dir_given = (
        _given_as(ctx, "state_dir", "--state-dir", ("AIRCTX_STATE_DIR",))
        if state_dir is not None
        else None
    )
    ctx.obj = App(config, overrides, aws_only=aws_only, state_dir_given=state_dir_given)


@cli.command("prep-data")
@input_options("prep-data")
@output_options
@pass_app
def prep_data(
    app: App,
    input_path: str | None,
    input_format: str | None,
    users_input: str | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Turn the input CSV into Personalize interactions and users CSVs.

    Every row dropped is counted by reason in the report. Outputs are replaced only
    when complete.

    \b
    Example:
      airctx prep-data --input ~/skytrax/airline.csv
      airctx prep-data --input df_interactions.csv --users-input users.csv
    """
    from airctx.pipeline.prep import prep_data as run_prep

    _set_output(app, output_format, quiet)
    report = run_prep(
        app.settings(),
        Path(input_path) if input_path else None,
        input_format,
        progress=app.output.progress,
        users_input=Path(users_input) if users_input else None,
    )
    app.output.result(report.as_dict())


@cli.command()
@click.option(
    "--mode",
    type=click.Choice(["FULL", "INCREMENTAL"]),
    default="FULL",
    show_default=True,
    help="The import to check for: INCREMENTAL skips Personalize's dataset minimums, "
    "as `import --mode INCREMENTAL` does.",
)
@output_options
@pass_app
def validate(app: App, mode: str, output_format: str, quiet: bool) -> None:
    """Check the prepared CSVs against their schemas and Personalize's minimums.

    Exit code 0 when it is safe to import, 1 when it is not. Many problems of one
    kind print as one line with examples; --output json lists up to 20 of each.
    Checks that need a file that could not be read to the end are listed as
    skipped.

    \b
    Example:
      airctx validate --output json
    """
    from airctx.pipeline.imports import validate as run_validate

    _set_output(app, output_format, quiet)
    report = run_validate(app.project(), minimums=mode == "FULL")
    app.output.result(report.as_dict(), text=report.text())
    if not report.ok:
        raise click.exceptions.Exit(1)


@cli.command("create-schemas")
@output_options
@pass_app
def create_schemas(app: App, output_format: str, quiet: bool) -> None:
    """Validate the field lists, then create schemas, dataset group and datasets.

    \b
    Example:
      airctx create-schemas
    """
    from airctx.pipeline.resources import create_schemas as run

    _set_output(app, output_format, quiet)
    app.output.result(run(app.project()).as_dict())


@cli.command("import")
@click.option(
    "--mode",
    type=click.Choice(["FULL", "INCREMENTAL"]),
    default="FULL",
    show_default=True,
    help="FULL replaces the dataset's data; INCREMENTAL appends only the rows of "
    "the prepared file that airctx has not imported into the dataset before (every "
    "row, with a warning, when it has no record of them).",
)
@replace_option
@wait_option
@output_options
@pass_app
def import_(
    app: App,
    mode: str,
    replace: bool,
    no_wait: bool,
    output_format: str,
    quiet: bool,
) -> None:
    """Validate the prepared CSVs and import them into Personalize datasets.

    A FULL import replaces the data a dataset holds; one whose prepared
    interactions lack rows imported before, or whose users or items file has fewer
    rows than the dataset, is refused unless --replace is given.

    \b
    Example:
      airctx import
      airctx import --mode INCREMENTAL
    """
    from airctx.pipeline.imports import import_data

    _set_output(app, output_format, quiet)
    result = import_data(app.project(wait=not no_wait), mode=mode, replace=replace)
    app.output.result(result.as_dict(), text=result.text())


@cli.command()
@click.option(
    "--retrain",
    is_flag=True,
    help="Train a new version even when no import changed the data, e.g. to fold "
    "in events tracked since the last training.",
)
@wait_option
@output_options
@pass_app
def train(
    app: App, retrain: bool, no_wait: bool, output_format: str, quiet: bool
) -> None:
    """Train the solution (with HPO when configured) and print its metrics.

    Trains on what `airctx import` put in the datasets; with no imported
    interactions it stops before creating anything.

    \b
    Example:
      airctx train --retrain
    """
    from airctx.pipeline.train import train as run

    _set_output(app, output_format, quiet)
    result = run(app.project(wait=not no_wait), retrain=retrain)
    if result.training_hours is not None:
        app.output.progress(f"training took {result.training_hours:.4f} training hours")
    app.output.result(result.as_dict())


@cli.command()
@wait_option
@output_options
@pass_app
def deploy(app: App, no_wait: bool, output_format: str, quiet: bool) -> None:
    """Create or update the campaign on the newest version, and the event tracker.

    \b
    Example:
      airctx deploy
    """
    from airctx.pipeline.deploy import deploy as run

    _set_output(app, output_format, quiet)
    result = run(app.project(wait=not no_wait))
    app.output.progress(
        f"campaign bills minProvisionedTPS={result.min_provisioned_tps} per hour on "
        "AWS while it exists; `airctx teardown` removes it"
    )
    app.output.result(result.as_dict())


@cli.command()
@click.option(
    "--user",
    "user_id",
    envvar="AIRCTX_RECOMMEND_USER",
    callback=_non_blank,
    help="The user to recommend for (required unless the recipe is a related-items "
    "one).",
)
@click.option(
    "--item",
    "item_id",
    envvar="AIRCTX_RECOMMEND_ITEM",
    callback=_non_blank,
    help="With a related-items recipe (aws-sims): the item to find related items for.",
)
@context_option("request")
@click.option(
    "--num-results",
    "-n",
    type=click.IntRange(1, 500),
    default=10,
    show_default=True,
    help="How many items to return.",
)
@click.option(
    "--compare",
    "compare_field",
    envvar="AIRCTX_RECOMMEND_COMPARE",
    metavar="FIELD",
    help="Show the top N for every value of this context field side by side.",
)
@click.option(
    "--values",
    metavar="V1,V2,...",
    help="With --compare: the values to compare (default: those in the "
    "prepared interactions, most common first).",
)
@output_options
@pass_app
def recommend(
    app: App,
    user_id: str | None,
    item_id: str | None,
    context: tuple[str, ...],
    num_results: int,
    compare_field: str | None,
    values: str | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Top items for a user in a context, or the items related to an item.

    With --compare, one column per value of a context field; the first column is
    the baseline and the others mark each item ↑n/↓n (moved), = or new. A
    related-items recipe (solution.recipe aws-sims) answers for --item instead of
    --user. Scores are Personalize's: relative, summing to 1 over the whole
    catalogue (none with aws-sims or aws-popularity-count).

    \b
    Example:
      airctx recommend --user JDowns --context "CABIN_TYPE=First Class"
      airctx recommend --user ColinPay --compare CABIN_TYPE
      airctx recommend --item emirates
    """
    from airctx.pipeline.query import compare
    from airctx.pipeline.query import recommend as run

    _set_output(app, output_format, quiet)
    if values and not compare_field:
        raise click.UsageError("--values needs --compare FIELD")
    _check_recommend_target(app.settings().solution.recipe, user_id, item_id)
    if item_id is not None and compare_field:
        raise click.UsageError(
            "--compare compares a user's lists across context values; it cannot be "
            "combined with --item"
        )
    if compare_field and user_id is not None:
        chosen = [v.strip() for v in values.split(",") if v.strip()] if values else None
        compared = compare(
            app.project(),
            user_id,
            compare_field,
            chosen,
            parse_context(context),
            num_results,
        )
        headers, columns = compared.table()
        app.output.result(compared.as_dict(), table=columns, headers=headers)
        return
    result = run(
        app.project(), user_id, parse_context(context), num_results, item_id=item_id
    )
    rows, headers = result.table()
    app.output.result(result.as_dict(), table=rows, headers=headers)


def _check_recommend_target(
    recipe: str, user_id: str | None, item_id: str | None
) -> None:
    """What a campaign answers follows from the configured recipe: say so before
    the service refuses the call."""
    from airctx.pipeline.query import RELATED_ITEMS_RECIPES, recipe_type

    kind = recipe_type(recipe)
    if kind == "RELATED_ITEMS" and item_id is None:
        raise click.UsageError(
            f"solution.recipe {recipe!r} is a related-items recipe: its campaign "
            "answers for an item; give --item ITEM (e.g. --item emirates)"
        )
    if kind == "PERSONALIZED_RANKING":
        raise click.UsageError(
            f"solution.recipe {recipe!r} reorders a given list of items; use "
            "`airctx rank --user USER --items A,B,...`"
        )
    if kind == "USER_PERSONALIZATION" and item_id is not None:
        raise click.UsageError(
            f"--item needs a related-items recipe ({', '.join(RELATED_ITEMS_RECIPES)})"
            f" and solution.recipe is {recipe!r}, which recommends for a user; "
            "use --user USER"
        )
    if kind == "USER_PERSONALIZATION" and user_id is None:
        raise click.UsageError(
            "Missing option '--user': give the user to recommend for (--item is for "
            "related-items recipes such as aws-sims)"
        )


@cli.command()
@click.option(
    "--user",
    "user_id",
    required=True,
    envvar="AIRCTX_RANK_USER",
    callback=_non_blank,
    help="The user to rank for.",
)
@click.option(
    "--items",
    required=True,
    help="Comma-separated item ids to reorder (1 to 500; a repeated id is ranked "
    "once).",
)
@context_option("request")
@output_options
@pass_app
def rank(
    app: App,
    user_id: str,
    items: str,
    context: tuple[str, ...],
    output_format: str,
    quiet: bool,
) -> None:
    """Reorder a list of items for a user (needs an aws-personalized-ranking campaign).

    Scores are relative: they sum to 1 over the items given, and an item the model
    never saw scores 0.

    A campaign has one recipe, so ranking takes a project of its own whose
    solution.recipe is aws-personalized-ranking: config/ranking.yaml is one,
    for the same data as config/airctx.yaml.

    \b
    Example:
      airctx --config config/ranking.yaml run
      airctx --config config/ranking.yaml rank --user ColinPay \\
          --items emirates,ryanair,british-airways --context CABIN_TYPE=Economy
    """
    from airctx.pipeline.query import not_a_ranking_recipe, rank_arguments, recipe_type
    from airctx.pipeline.query import rank as run

    _set_output(app, output_format, quiet)
    wanted = parse_items(items)
    asked = parse_context(context)
    settings = app.settings()
    recipe = settings.solution.recipe
    if recipe_type(recipe) != "PERSONALIZED_RANKING":
        # Known from the configuration: say so before the service refuses the call.
        where = f" in {settings.config_path}" if settings.config_path else ""
        raise click.UsageError(
            not_a_ranking_recipe(
                settings,
                recipe,
                f"solution.recipe{where}",
                rank_arguments(user_id, wanted),
            )
        )
    result = run(app.project(), user_id, wanted, asked)
    rows, headers = result.table()
    app.output.result(result.as_dict(), table=rows, headers=headers)


@cli.command("track-event")
@click.option(
    "--user",
    "user_id",
    required=True,
    envvar="AIRCTX_TRACK_EVENT_USER",
    callback=_non_blank,
    help="Who the event is about.",
)
@click.option(
    "--item",
    "item_id",
    required=True,
    envvar="AIRCTX_TRACK_EVENT_ITEM",
    callback=_non_blank,
    help="The item interacted with.",
)
@click.option(
    "--event-type",
    default="RATING",
    show_default=True,
    help="The event type (the solution trains on solution.event_type).",
)
@click.option(
    "--value", type=float, callback=_finite, help="The event value, e.g. a rating."
)
@context_option("event")
@click.option(
    "--session",
    "session_id",
    envvar="AIRCTX_TRACK_EVENT_SESSION",
    callback=_non_blank,
    help="Session id (default: a new one).",
)
@output_options
@pass_app
def track_event(
    app: App,
    user_id: str,
    item_id: str,
    event_type: str,
    value: float | None,
    context: tuple[str, ...],
    session_id: str | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Record an event with its context through the event tracker.

    An event the model cannot learn from (an event type the solution does not
    train on, an item the prepared data lacks, a value outside its range) is still
    recorded, as Personalize would, with a warning on stderr.

    \b
    Example:
      airctx track-event --user JDowns --item emirates --value 9 \\
          --context CABIN_TYPE=Economy
    """
    from airctx.pipeline.query import track_event as run

    _set_output(app, output_format, quiet)
    result = run(
        app.project(),
        user_id,
        item_id,
        event_type,
        value,
        parse_context(context),
        session_id,
    )
    app.output.result(result, text=f"recorded {event_type} of {item_id} by {user_id}")


@cli.command()
@click.option(
    "--retrain",
    is_flag=True,
    help="Train a new version even when no import changed the data, e.g. to fold "
    "in events tracked since the last training.",
)
@replace_option
@input_options("run")
@output_options
@pass_app
def run(
    app: App,
    retrain: bool,
    replace: bool,
    input_path: str | None,
    input_format: str | None,
    users_input: str | None,
    output_format: str,
    quiet: bool,
) -> None:
    """Run every step in order: prep-data, import, train, deploy, a sample query.

    Safe to run again: finished steps are found and reused. The data is prepared
    again from the configured input (or --input, and --users-input) on every run.

    \b
    Example:
      airctx run
      airctx run --input df_interactions.csv --input-format personalize
      airctx run --input df_interactions.csv --users-input users.csv
    """
    from airctx.pipeline.run import run_all

    _set_output(app, output_format, quiet)
    result = run_all(
        app.settings(),
        app.project(),
        retrain=retrain,
        replace=replace,
        progress=app.output.progress,
        input_path=Path(input_path) if input_path else None,
        input_format=input_format,
        users_input=Path(users_input) if users_input else None,
    )
    app.output.result(result.as_dict(), text=result.summary())


@cli.command()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    callback=_finite,
    metavar="SECONDS",
    help="Give up on each resource after this long (default: waits.timeouts from "
    "the configuration, per kind of resource).",
)
@output_options
@pass_app
def wait(app: App, timeout: float | None, output_format: str, quiet: bool) -> None:
    """Wait for what is in flight: imports, training, campaigns, trackers, deletions.

    Use it after a command run with --no-wait, or after an interrupted one. Exit code
    1 when something ends in a failed state (the service's reason is printed).

    \b
    Example:
      airctx train --no-wait && airctx wait
      airctx wait --timeout 7200
    """
    from airctx.pipeline.pending import wait_pending

    _set_output(app, output_format, quiet)
    done = wait_pending(app.project(), timeout)
    table = [(r["type"], r["name"], r["status"]) for r in done]
    app.output.result(
        done,
        table=table or None,
        headers=("type", "name", "status"),
        text="nothing pending",
    )


@cli.command()
@output_options
@pass_app
def metrics(app: App, output_format: str, quiet: bool) -> None:
    """Offline metrics of the newest solution version.

    Computed as Personalize documents them (10% of users held out, scored on their
    newest 10% of interactions). The local backend also shows the popularity
    baseline scored on the same users; Amazon Personalize reports none (n/a).

    \b
    Example:
      airctx metrics --output json
    """
    from airctx.pipeline.status import metrics as run

    _set_output(app, output_format, quiet)
    result = run(app.project())
    app.output.progress(f"metrics of {result['solutionVersionArn']}")
    baseline = result["baseline"] or {}
    rows = [
        (name, f"{value:.4f}", f"{baseline[name]:.4f}" if name in baseline else "n/a")
        for name, value in sorted(result["metrics"].items())
    ]
    app.output.result(
        result, table=rows, headers=("metric", "value", "popularity baseline")
    )


@cli.command()
@output_options
@pass_app
def status(app: App, output_format: str, quiet: bool) -> None:
    """Every resource of the project with its state; marks what costs money idle.

    \b
    Example:
      airctx status
    """
    from airctx.pipeline.status import status as run

    _set_output(app, output_format, quiet)
    rows = run(app.project())
    table = [
        (r["type"], r["name"], r["status"], r.get("detail", ""), r.get("cost", ""))
        for r in rows
    ]
    if not rows:
        app.output.progress(
            f"nothing found for project {app.settings().project}" + _no_local_state(app)
        )
    app.output.result(
        rows, table=table, headers=("type", "name", "status", "detail", "idle cost")
    )


def _no_local_state(app: App) -> str:
    """Words saying the local engine has never stored anything, if so."""
    engine = app.project().clients.local_engine
    if engine is None or engine.store.exists:
        return ""
    return (
        f" (no local state in {app.settings().state_dir} yet; `airctx run` creates it)"
    )


@cli.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--dry-run", is_flag=True, help="Show what would be deleted, delete nothing."
)
@output_options
@pass_app
def teardown(
    app: App, yes: bool, dry_run: bool, output_format: str, quiet: bool
) -> None:
    """Delete every resource of the project in dependency order.

    Without --yes it asks first; answering no (or nothing, as when stdin is not a
    terminal) deletes nothing and exits with code 1.

    \b
    Example:
      airctx teardown --dry-run
      airctx teardown --yes
    """
    from airctx.pipeline.teardown import plan
    from airctx.pipeline.teardown import teardown as run

    _set_output(app, output_format, quiet)
    project = app.project()
    steps = plan(project)
    if not steps:
        app.output.progress(
            f"nothing to delete for project {app.settings().project}"
            + _no_local_state(app)
        )
    if dry_run or not steps:
        app.output.result(
            [s.as_dict() for s in steps],
            table=[(s.type, s.arn) for s in steps],
            headers=("type", "arn"),
        )
        return
    if not yes and not _confirmed(
        f"Delete {len(steps)} resource(s) of {app.settings().project}?"
    ):
        hint = (
            ""
            if _stdin_is_terminal()
            else " (stdin is not a terminal: pass --yes to delete without a question)"
        )
        click.echo(f"Nothing was deleted{hint}.", err=True)
        raise click.exceptions.Exit(1)
    done = run(project, steps)
    app.output.result(
        [s.as_dict() for s in done],
        table=[(s.type, s.arn) for s in done],
        headers=("deleted", "arn"),
    )


def _confirmed(question: str) -> bool:
    """The answer to a yes/no question; no on Ctrl-C or when stdin has ended."""
    try:
        return click.confirm(question, err=True)
    except click.Abort:
        click.echo(err=True)
        return False


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback needs access keys.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8642,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option("--access-key-id", help="Access key id clients must sign with.")
@click.option("--secret-access-key", help="Its secret key.")
@pass_app
def serve(
    app: App,
    host: str,
    port: int,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> None:
    """Serve the local engine over HTTP for any AWS SDK or the AWS CLI.

    With access keys every request must carry a valid SigV4 signature; without
    them only loopback addresses may be bound.

    The server answers for one region, the global --region (default us-east-1):
    a request signed for another region is refused, and an unsigned one cannot
    name its region, so it gets this one's resources. Without keys, tell the AWS
    CLI not to sign (--no-sign-request); it still needs a region.

    \b
    Example:
      airctx serve &
      aws personalize list-campaigns --region us-east-1 --no-sign-request \\
          --endpoint-url http://127.0.0.1:8642
    """
    from airctx.engine.core import LocalEngine
    from airctx.engine.server import make_server

    if bool(access_key_id) != bool(secret_access_key):
        raise click.UsageError(
            "give both --access-key-id and --secret-access-key, or neither"
        )
    settings = app.settings()
    credentials = (
        {access_key_id: secret_access_key}
        if access_key_id and secret_access_key
        else None
    )
    try:
        engine = LocalEngine(settings.state_dir, region=settings.region)
    except ValueError as exc:
        raise click.ClickException(f"cannot open the local engine: {exc}") from exc
    try:
        server = make_server(
            engine, host, port, credentials=credentials, region=settings.region
        )
    except (ValueError, OSError) as exc:
        hint = ""
        if credentials is None and "credentials" in str(exc):
            hint = " (give --access-key-id and --secret-access-key)"
        raise click.ClickException(
            f"cannot serve on {host}:{port}: {exc}{hint}"
        ) from exc
    click.echo(
        f"serving the local Personalize engine at {server.endpoint_url} "
        f"(state: {settings.state_dir}); Ctrl-C stops",
        err=True,
    )
    # A service manager stops with SIGTERM: leave as cleanly as after Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
        engine.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    cli(prog_name="airctx")
