"""Project configuration: one YAML file, overridden by environment and flags.

Precedence, implemented here and only here: command-line flag > ``AIRCTX_*``
environment variable > configuration file > built-in default. The CLI resolves the
first two (Click reads ``AIRCTX_*`` for every option) and passes the result to
:func:`load_settings` as ``overrides``; the file and the defaults are merged below.

Relative paths in the file are resolved against the directory holding the file, so a
project can be run from anywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from airctx.errors import ConfigError

DEFAULT_CONFIG_LOCATIONS = ("config/airctx.yaml", "airctx.yaml")
BACKENDS = ("local", "aws")
DATASET_KINDS = ("INTERACTIONS", "USERS", "ITEMS")
FIELD_TYPES = ("string", "long", "int", "float", "double", "boolean")
INPUT_FORMATS = ("auto", "skytrax", "personalize")
HPO_RANGE_TYPES = ("continuous", "integer", "categorical")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}$")


@dataclass(frozen=True)
class FieldSpec:
    """One column of a dataset, in CSV order."""

    name: str
    type: str = "string"
    categorical: bool = False
    context: bool = False
    nullable: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's kind and its fields; the single source of every derived schema."""

    kind: str
    fields: tuple[FieldSpec, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def context_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.context]

    def get(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class DataSettings:
    """Where raw input is found and where prepared CSVs are written."""

    data_dir: Path | None = None
    input: str = "raw-sample/airline.csv"
    input_format: str = "auto"
    users_input: str | None = None
    output_dir: Path = Path("build/data")
    residence_rule: str = "latest"
    chunk_rows: int = 5000

    def input_path(self) -> Path:
        """The interactions input file, resolved against ``data_dir``."""
        return _resolve_data_file(self.data_dir, self.input)

    def users_input_path(self) -> Path | None:
        if self.users_input is None:
            return None
        return _resolve_data_file(self.data_dir, self.users_input)


@dataclass(frozen=True)
class HpoSettings:
    """Hyperparameter optimisation for the solution (Personalize's hpoConfig)."""

    max_training_jobs: int = 8
    max_parallel_training_jobs: int = 2
    ranges: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SolutionSettings:
    """The solution to train and how."""

    name: str | None = None
    recipe: str = "aws-user-personalization"
    event_type: str | None = "RATING"
    event_value_threshold: float | None = None
    perform_hpo: bool = False
    hpo: HpoSettings = field(default_factory=HpoSettings)
    algorithm_hyperparameters: Mapping[str, str] = field(default_factory=dict)
    perform_auto_training: bool = False
    training_mode: str = "FULL"


@dataclass(frozen=True)
class CampaignSettings:
    """The campaign that serves the latest solution version."""

    name: str | None = None
    min_provisioned_tps: int = 1
    exploration_weight: float | None = None
    exploration_item_age_cutoff: int | None = None


@dataclass(frozen=True)
class AwsSettings:
    """Settings used only by the ``aws`` backend (S3 staging and the service role)."""

    profile: str | None = None
    endpoint_url: str | None = None
    services_endpoint_url: str | None = None
    bucket: str | None = None
    create_bucket: bool = False
    prefix: str = "airctx"
    role_arn: str | None = None
    role_name: str | None = None
    max_attempts: int = 5
    retry_mode: str = "standard"


# Seconds a command waits for each kind of resource unless waits.timeouts says
# otherwise; its keys are the only kinds waits.timeouts accepts.
DEFAULT_TIMEOUTS: Mapping[str, float] = {
    "dataset_group": 600,
    "dataset": 600,
    "dataset_import_job": 3600,
    "solution": 600,
    "solution_version": 6 * 3600,
    "campaign": 1800,
    "event_tracker": 600,
    "filter": 600,
}


@dataclass(frozen=True)
class WaitSettings:
    """How long to wait for each kind of asynchronous resource, in seconds."""

    poll_seconds: float = 1.0
    max_poll_seconds: float = 60.0
    timeouts: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_TIMEOUTS)
    )

    def timeout_for(self, kind: str) -> float:
        return float(self.timeouts.get(kind, 3600))


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline step needs to know about the project."""

    project: str
    backend: str = "local"
    region: str = "us-east-1"
    state_dir: Path = Path(".airctx")
    datasets: Mapping[str, DatasetSpec] = field(default_factory=dict)
    data: DataSettings = field(default_factory=DataSettings)
    solution: SolutionSettings = field(default_factory=SolutionSettings)
    campaign: CampaignSettings = field(default_factory=CampaignSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    waits: WaitSettings = field(default_factory=WaitSettings)
    config_path: Path | None = None

    # Resource names all derive from the project name so that every step can find
    # what an earlier step (or an earlier run) created.
    @property
    def dataset_group_name(self) -> str:
        return self.project

    def schema_name(self, kind: str) -> str:
        return f"{self.project}-{kind.lower()}"

    @property
    def solution_name(self) -> str:
        return self.solution.name or f"{self.project}-solution"

    @property
    def campaign_name(self) -> str:
        return self.campaign.name or f"{self.project}-campaign"

    @property
    def event_tracker_name(self) -> str:
        return f"{self.project}-tracker"

    @property
    def interactions(self) -> DatasetSpec:
        try:
            return self.datasets["INTERACTIONS"]
        except KeyError:
            raise ConfigError(
                "the configuration declares no interactions dataset; add "
                "datasets.interactions.fields"
            ) from None

    @property
    def context_values_path(self) -> Path:
        """Where ``prep-data`` records the context values the prepared data holds."""
        return self.data.output_dir / "context-values.json"

    def prepared_csv(self, kind: str) -> Path:
        """Where ``prep-data`` writes the CSV for one dataset kind."""
        return self.data.output_dir / f"{kind.lower()}.csv"


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """The configuration file to use: the given one, else the first default found."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        return path
    for candidate in DEFAULT_CONFIG_LOCATIONS:
        path = Path(candidate)
        if path.is_file():
            return path
    raise ConfigError(
        "no configuration file found (looked for "
        + ", ".join(DEFAULT_CONFIG_LOCATIONS)
        + " in the current directory); pass --config PATH or set AIRCTX_CONFIG"
    )


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the configuration file and apply ``overrides`` (flags and environment).

    ``overrides`` keys: backend, region, state_dir, data_dir, project, profile,
    endpoint_url. ``None`` values are ignored, so a caller can pass every option.
    """
    config_path = find_config(path)
    raw = read_yaml(config_path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping")
    try:
        settings = settings_from_mapping(raw, base_dir=config_path.parent.resolve())
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    settings = replace(settings, config_path=config_path.resolve())
    return apply_overrides(settings, overrides or {})


# Byte-order marks of the encodings YAML allows besides UTF-8; airctx reads UTF-8
# only, so a file saved as UTF-16 or UTF-32 is refused with how to fix it.
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice; YAML loaders silently keep the last."""

    def __init__(self, key: Any, first_line: int, second_line: int) -> None:
        super().__init__(f"{key!r} on lines {first_line} and {second_line}")
        self.key = key
        self.first_line = first_line
        self.second_line = second_line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *base" entries may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], line)
                seen[key] = line
            except TypeError:
                continue  # an unhashable key: the base class says so
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``, which must be UTF-8 and name no key twice."""
    data = path.read_bytes()
    for bom, encoding in _OTHER_BOMS:
        if data.startswith(bom):
            raise ConfigError(
                f"{path}: the file is saved as {encoding} (it starts with a "
                f"{encoding} byte-order mark); save it as UTF-8"
            )
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(
            f"{path}: line {line} holds a NUL byte, as a file saved as UTF-16 or "
            "UTF-32 without a byte-order mark does; save it as UTF-8"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (byte "
            f"0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except DuplicateKeyError as exc:
        lines = (
            f"on line {exc.first_line}"
            if exc.first_line == exc.second_line
            else f"on lines {exc.first_line} and {exc.second_line}"
        )
        raise ConfigError(
            f"{path}: key {exc.key} is given twice in one mapping, {lines}; keep "
            "one (YAML would silently use the last)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def apply_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """Apply flag/environment values over what the file said."""
    o = {k: v for k, v in overrides.items() if v is not None}
    if "project" in o:
        settings = replace(settings, project=_check_name("project", o["project"]))
    if "backend" in o:
        settings = replace(
            settings, backend=_check_choice("backend", o["backend"], BACKENDS)
        )
    if "region" in o:
        settings = replace(settings, region=str(o["region"]))
    if "state_dir" in o:
        settings = replace(settings, state_dir=Path(o["state_dir"]).resolve())
    if "data_dir" in o:
        data = replace(settings.data, data_dir=Path(o["data_dir"]).resolve())
        settings = replace(settings, data=data)
    aws_changes = {
        k: o[k] for k in ("profile", "endpoint_url", "services_endpoint_url") if k in o
    }
    if aws_changes:
        settings = replace(settings, aws=replace(settings.aws, **aws_changes))
    return settings


def settings_from_mapping(raw: Mapping[str, Any], base_dir: Path) -> Settings:
    """Build :class:`Settings` from the parsed YAML document."""
    _reject_unknown(
        "top level",
        raw,
        {
            "project",
            "backend",
            "region",
            "state_dir",
            "datasets",
            "data",
            "solution",
            "campaign",
            "aws",
            "waits",
        },
    )
    if "project" not in raw:
        raise ConfigError(
            "configuration: 'project' (the dataset group name) is required"
        )
    for key in ("datasets", "data", "solution", "campaign", "aws", "waits"):
        _mapping(key, raw.get(key))
    datasets = _datasets(raw.get("datasets") or {})
    return Settings(
        project=_check_name("project", raw["project"]),
        backend=_check_choice("backend", raw.get("backend", "local"), BACKENDS),
        region=str(raw.get("region", "us-east-1")),
        state_dir=_path(base_dir, raw.get("state_dir", ".airctx")),
        datasets=datasets,
        data=_data(raw.get("data") or {}, base_dir),
        solution=_solution(raw.get("solution") or {}),
        campaign=_campaign(raw.get("campaign") or {}),
        aws=_section(AwsSettings, "aws", raw.get("aws") or {}),
        waits=_waits(raw.get("waits") or {}),
    )


def _datasets(raw: Mapping[str, Any]) -> dict[str, DatasetSpec]:
    out: dict[str, DatasetSpec] = {}
    for key, body in raw.items():
        kind = str(key).upper()
        if kind not in DATASET_KINDS:
            raise ConfigError(
                f"datasets.{key}: unknown dataset kind; use one of "
                + ", ".join(k.lower() for k in DATASET_KINDS)
            )
        _mapping(f"datasets.{key}", body)
        _reject_unknown(f"datasets.{key}", body or {}, {"fields"})
        fields_raw = (body or {}).get("fields")
        if not isinstance(fields_raw, list) or not fields_raw:
            raise ConfigError(
                f"datasets.{key}.fields: a non-empty list of fields is required"
            )
        fields = []
        for index, item in enumerate(fields_raw):
            where = f"datasets.{key}.fields[{index}]"
            if not isinstance(item, dict) or "name" not in item:
                raise ConfigError(f"{where}: each field needs at least a 'name'")
            _reject_unknown(
                where, item, {"name", "type", "categorical", "context", "nullable"}
            )
            ftype = str(item.get("type", "string"))
            if ftype not in FIELD_TYPES:
                raise ConfigError(
                    f"{where} ({item['name']}): type {ftype!r} is not one of "
                    + ", ".join(FIELD_TYPES)
                )
            fields.append(
                FieldSpec(
                    name=str(item["name"]),
                    type=ftype,
                    categorical=bool(item.get("categorical", False)),
                    context=bool(item.get("context", False)),
                    nullable=bool(item.get("nullable", False)),
                )
            )
        out[kind] = DatasetSpec(kind=kind, fields=tuple(fields))
    return out


def _data(raw: Mapping[str, Any], base_dir: Path) -> DataSettings:
    _reject_unknown(
        "data",
        raw,
        {
            "data_dir",
            "input",
            "input_format",
            "users_input",
            "output_dir",
            "residence_rule",
            "chunk_rows",
        },
    )
    _check_types(DataSettings, "data", raw, ("input", "users_input"))
    data_dir = raw.get("data_dir")
    return DataSettings(
        data_dir=_path(base_dir, data_dir) if data_dir else None,
        input=str(raw.get("input", DataSettings.input)),
        input_format=_check_choice(
            "data.input_format", raw.get("input_format", "auto"), INPUT_FORMATS
        ),
        users_input=raw.get("users_input"),
        output_dir=_path(base_dir, raw.get("output_dir", "build/data")),
        residence_rule=_check_choice(
            "data.residence_rule",
            raw.get("residence_rule", "latest"),
            ("latest", "most_frequent"),
        ),
        chunk_rows=_positive("data.chunk_rows", raw.get("chunk_rows", 5000)),
    )


def _solution(raw: Mapping[str, Any]) -> SolutionSettings:
    _reject_unknown(
        "solution",
        raw,
        {
            "name",
            "recipe",
            "event_type",
            "event_value_threshold",
            "perform_hpo",
            "hpo",
            "algorithm_hyperparameters",
            "perform_auto_training",
            "training_mode",
        },
    )
    _check_types(SolutionSettings, "solution", raw, ("name", "recipe", "event_type"))
    _mapping("solution.hpo", raw.get("hpo"))
    _mapping("solution.algorithm_hyperparameters", raw.get("algorithm_hyperparameters"))
    _mapping("solution.hpo.ranges", (raw.get("hpo") or {}).get("ranges"))
    hpo = _section(HpoSettings, "solution.hpo", raw.get("hpo") or {})
    if not 1 <= hpo.max_training_jobs <= 40:
        raise ConfigError("solution.hpo.max_training_jobs must be between 1 and 40")
    if not 1 <= hpo.max_parallel_training_jobs <= 10:
        raise ConfigError(
            "solution.hpo.max_parallel_training_jobs must be between 1 and 10"
        )
    threshold = raw.get("event_value_threshold")
    for key in ("perform_hpo", "perform_auto_training"):
        if key in raw:
            _check_type(f"solution.{key}", raw[key], "bool")
    for name, spec in (hpo.ranges or {}).items():
        _hpo_range(f"solution.hpo.ranges.{name}", spec)
    return SolutionSettings(
        name=raw.get("name"),
        recipe=str(raw.get("recipe", SolutionSettings.recipe)),
        event_type=raw.get("event_type", "RATING"),
        event_value_threshold=(
            _number("solution.event_value_threshold", threshold)
            if threshold is not None
            else None
        ),
        perform_hpo=bool(raw.get("perform_hpo", False)),
        hpo=hpo,
        algorithm_hyperparameters={
            str(k): str(v)
            for k, v in (raw.get("algorithm_hyperparameters") or {}).items()
        },
        perform_auto_training=bool(raw.get("perform_auto_training", False)),
        training_mode=_check_choice(
            "solution.training_mode",
            raw.get("training_mode", "FULL"),
            ("FULL", "UPDATE"),
        ),
    )


def _hpo_range(where: str, spec: Any) -> None:
    """Check one HPO range here, so a typo fails every command at once rather than
    ``train`` after the imports."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a mapping with type and min/max or values")
    kind = spec.get("type", "continuous")
    if kind not in HPO_RANGE_TYPES:
        raise ConfigError(
            f"{where}.type {kind!r} is not one of {', '.join(HPO_RANGE_TYPES)}"
        )
    if kind == "categorical":
        _reject_unknown(where, spec, {"type", "values"})
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"{where}.values: a categorical range needs a non-empty list of "
                "values, e.g. values: [true, false]"
            )
        return
    _reject_unknown(where, spec, {"type", "min", "max"})
    low = _number(f"{where}.min", spec.get("min"))
    high = _number(f"{where}.max", spec.get("max"))
    if low > high:
        raise ConfigError(f"{where}: min {low:g} is greater than max {high:g}")
    if kind == "integer" and not (low.is_integer() and high.is_integer()):
        raise ConfigError(
            f"{where}: an integer range needs whole-number min and max, not "
            f"{low:g} and {high:g}"
        )


def _campaign(raw: Mapping[str, Any]) -> CampaignSettings:
    campaign: CampaignSettings = _section(CampaignSettings, "campaign", raw)
    if campaign.min_provisioned_tps < 1:
        raise ConfigError(
            "campaign.min_provisioned_tps must be at least 1 (Personalize's minimum; "
            f"it is billed per hour), not {campaign.min_provisioned_tps}"
        )
    weight = campaign.exploration_weight
    if weight is not None and not 0 <= weight <= 1:
        raise ConfigError(
            f"campaign.exploration_weight must be from 0 to 1, not {weight}"
        )
    return campaign


def _waits(raw: Mapping[str, Any]) -> WaitSettings:
    """The wait settings; ``timeouts`` names only known kinds, each over 0 seconds,
    and a kind it leaves out keeps its default."""
    timeouts = raw.get("timeouts")
    _mapping("waits.timeouts", timeouts)
    for key in ("poll_seconds", "max_poll_seconds"):
        if key in raw:
            _seconds(f"waits.{key}", raw[key])
    waits: WaitSettings = _section(
        WaitSettings, "waits", {k: v for k, v in raw.items() if k != "timeouts"}
    )
    given = timeouts or {}
    _reject_unknown("waits.timeouts", given, set(DEFAULT_TIMEOUTS))
    merged = dict(DEFAULT_TIMEOUTS)
    for kind, value in given.items():
        merged[kind] = _seconds(f"waits.timeouts.{kind}", value)
    return replace(waits, timeouts=merged)


def _seconds(where: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(
            f"{where} must be a finite number of seconds greater than 0, not "
            f"{_shown(value)}"
        )
    return float(value)


def _shown(value: Any) -> str:
    """A value as the YAML file spells it: ``.inf`` rather than Python's ``inf``."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return repr(value)


def _mapping(where: str, value: Any) -> None:
    """Refuse a section that is set to something other than a mapping."""
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys to values, not {value!r}")


def _check_types(
    cls: Any, where: str, raw: Mapping[str, Any], keys: tuple[str, ...]
) -> None:
    """Check ``keys`` of ``raw`` against the annotations of ``cls``'s fields."""
    annotations = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    for key in keys:
        if key in raw:
            _check_type(f"{where}.{key}", raw[key], annotations[key])


def _section(cls: Any, where: str, raw: Mapping[str, Any]) -> Any:
    allowed = set(cls.__dataclass_fields__)
    _reject_unknown(where, raw, allowed)
    for f in dataclasses.fields(cls):
        if f.name in raw:
            _check_type(f"{where}.{f.name}", raw[f.name], str(f.type))
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# The scalar annotations a configuration value is checked against, by name.
_SCALARS: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
}


def _check_type(where: str, value: Any, annotation: str) -> None:
    """Reject a YAML value of the wrong type, e.g. ``"false"`` (a string) for a flag.

    YAML reads ``false`` as a boolean but ``"false"`` as a non-empty string, which
    Python would treat as true: a quoted flag must fail here, not switch on HPO.
    """
    parts = [p.strip() for p in annotation.split("|")]
    if value is None and "None" in parts:
        return
    wanted = [_SCALARS[p] for p in parts if p in _SCALARS]
    if not wanted:
        return
    kinds = tuple(t for group in wanted for t in group)
    is_bool = isinstance(value, bool)
    if not isinstance(value, kinds) or (is_bool and bool not in kinds):
        names = " or ".join(p for p in parts if p in _SCALARS)
        hint = ""
        if "bool" in parts:
            hint = " (write true or false, unquoted)"
        elif "str" in parts and isinstance(value, int | float):
            hint = f' (quote it if it is meant as text: "{value}")'
        raise ConfigError(f"{where} must be {names}, not {value!r}{hint}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, not {_shown(value)}")


def _positive(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{where} must be a whole number of at least 1, not {value!r}"
        )
    return value


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, not {_shown(value)}")
    return float(value)


def _reject_unknown(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(map(str, set(raw) - allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}"
            + did_you_mean(unknown, allowed)
            + f"; expected some of {', '.join(sorted(allowed))}"
        )


def did_you_mean(unknown: list[str], known: set[str]) -> str:
    """`` (did you mean X?)`` for the unknown names that are close to a known one."""
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        if close:
            hints.append(close[0] if len(unknown) == 1 else f"{close[0]} for {name}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _check_name(what: str, value: Any) -> str:
    text = str(value)
    if not NAME_RE.match(text):
        raise ConfigError(
            f"{what} {text!r} is not a valid Personalize name: 1-63 characters, "
            "letters, digits, '-' and '_', starting with a letter or digit"
        )
    return text


def _check_choice(what: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value)
    if text not in choices:
        raise ConfigError(f"{what} {text!r} is not one of {', '.join(choices)}")
    return text


def _path(base_dir: Path, value: Any) -> Path:
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else (base_dir / path).resolve()


def _resolve_data_file(data_dir: Path | None, name: str) -> Path:
    path = Path(os.path.expanduser(name))
    if path.is_absolute() or data_dir is None:
        return path
    return data_dir / path
