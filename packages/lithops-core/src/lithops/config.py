"""Configuration: where it is read from, its schema, validation and defaults.

Lookup order (the first that exists wins): the ``config=`` dict, the ``config_file=`` argument,
the ``LITHOPS_CONFIG_FILE`` environment variable, ``./.lithops_config``, ``~/.lithops/config``,
``/etc/lithops/config``. No configuration at all means localhost compute and localhost storage.

Sections: ``lithops`` (options below), one per backend id (options declared by the backend class
in ``config_options``), and shared provider sections (``aws``, ``redis``...) registered by
packages through the ``lithops.config_sections`` entry point group.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from lithops import registry
from lithops.errors import BackendNotFoundError, ConfigError
from lithops.spi import ConfigOption

logger = logging.getLogger(__name__)

CONFIG_SECTIONS_GROUP = "lithops.config_sections"
#: Lithops 3's push monitoring backends, accepted in ``monitoring`` (the default channel is used).
PUSH_MONITORING = ("rabbitmq", "redis", "aws_sqs", "azure_queue", "gcp_pubsub")
MODES = ("localhost", "serverless", "standalone")
DEFAULT_BACKEND_BY_MODE = {"localhost": "localhost", "serverless": "aws_lambda", "standalone": "ibm_vpc"}

LITHOPS_OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption("backend", str, None, "Compute backend id; default from `mode`, else localhost."),
    ConfigOption("storage", str, None, "Storage backend id; default: the compute backend's own."),
    ConfigOption("mode", str, None, "Execution mode; picks a default backend.", choices=MODES),
    ConfigOption("monitoring", str, None,
                 "How the client learns that calls finished: `direct` (the backend's own channel,"
                 " default when it has one) or `storage` (polling status records). Lithops 3's"
                 " push channels (`rabbitmq`, `redis`, `aws_sqs`, `azure_queue`, `gcp_pubsub`) are"
                 " accepted and use the default, with a warning.",
                 choices=("direct", "storage", *PUSH_MONITORING)),
    ConfigOption("monitoring_interval", (int, float), 0.05,
                 "First storage polling interval in seconds; it backs off up to 1 s while idle.",
                 minimum=0, minimum_exclusive=True),
    ConfigOption("log_level", (str, bool), None,
                 "Log level of the `lithops` logger (DEBUG, INFO...); unset or false leaves logging alone."),
    ConfigOption("log_format", str, None, "Format of the `lithops` logger's records (with `log_level`)."),
    ConfigOption("log_stream", str, None,
                 "Where the `lithops` logger writes: `ext://sys.stderr` (default) or `ext://sys.stdout`."),
    ConfigOption("log_filename", str, None, "A file the `lithops` logger writes to instead of a stream."),
    ConfigOption("data_limit", (int, bool), False,
                 "Largest per-call argument size in MiB, or false for no limit."),
    ConfigOption("execution_timeout", (int, float), 1800, "Default per-call timeout in seconds.",
                 minimum=0, minimum_exclusive=True),
    ConfigOption("chunksize", int, None, "Calls per invocation; default chosen per backend.", minimum=1),
    ConfigOption("retries", int, 0, "Default retries of RetryingFunctionExecutor.", minimum=0),
    ConfigOption("storage_bucket", str, None, "Bucket for lithops' own data."),
    ConfigOption("data_cleaner", bool, True,
                 "Delete a job's temporary data once all its results were read (and the functions at close)."),
    ConfigOption("keep_logs", (int, float), 0,
                 "Seconds the data cleaner keeps what `lithops logs`/`lithops jobs` read (logs.txt,"
                 " job.json) after a job's results were read; 0 deletes them with the rest.", minimum=0),
    ConfigOption("max_workers", int, None, "Upper bound on concurrent invocations.", minimum=1),
    ConfigOption("worker_processes", int, None, "Processes per worker (alias kept from Lithops).", minimum=1),
    ConfigOption("include_modules", (list, str), [],
                 "Modules always shipped with functions; null (or 'none') ships none unless a call"
                 " names some, [] (default) ships the local modules functions reference."),
    ConfigOption("exclude_modules", list, None, "Modules never shipped with functions."),
)

#: Lithops 3.x keys that configure features this implementation does not need; accepted with a
#: warning so that existing configuration files keep working.
IGNORED_LITHOPS_KEYS = frozenset({"customized_runtime", "telemetry", "telemetry_interval", "backend_type"})

#: Sections other packages own, accepted unvalidated when their package is not installed.
KNOWN_SHARED_SECTIONS = {
    "aws": "lithops-aws",
    "gcp": "lithops-gcp",
    "azure": "lithops-azure",
    "ibm": "lithops-ibm",
    "redis": "lithops-multiprocessing",
    "rabbitmq": "lithops-core",
    "standalone": "lithops-core",
}


def config_file_candidates() -> list[Path]:
    env = os.environ.get("LITHOPS_CONFIG_FILE")
    candidates = [Path(env)] if env else []
    candidates += [
        Path.cwd() / ".lithops_config",
        Path.home() / ".lithops" / "config",
        Path("/etc/lithops/config"),
    ]
    return candidates


def load_yaml_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML configuration file into a dict (``{}`` for an empty file)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {str(path)!r} does not exist. Fix the path.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping of sections.")
    return data


def find_config(config_file: str | os.PathLike[str] | None = None) -> tuple[dict[str, Any], str]:
    """The raw configuration and where it came from (a path, or ``'defaults'``)."""
    if config_file is not None:
        return load_yaml_config(config_file), str(config_file)
    env = os.environ.get("LITHOPS_CONFIG_FILE")
    if env:
        return load_yaml_config(env), env
    for candidate in config_file_candidates():
        if candidate.is_file():
            return load_yaml_config(candidate), str(candidate)
    return {}, "defaults"


def _shared_sections() -> dict[str, metadata.EntryPoint]:
    return registry.entry_points_by_group().get(CONFIG_SECTIONS_GROUP, {})


def options_for_section(section: str) -> tuple[ConfigOption, ...] | None:
    """The options of ``section``, or ``None`` when no installed package declares it."""
    if section == "lithops":
        return LITHOPS_OPTIONS
    # A compute and a storage backend may share an id (``localhost``): their options merge.
    merged: dict[str, ConfigOption] = {}
    found = False
    kinds: tuple[registry.Kind, ...] = ("compute", "storage")
    for kind in kinds:
        if registry.is_installed(kind, section):
            found = True
            for option in registry.load(kind, section).config_options:
                merged.setdefault(option.name, option)
    if found:
        return tuple(merged.values())
    shared = _shared_sections().get(section)
    if shared is not None:
        loaded: tuple[ConfigOption, ...] = tuple(shared.load())
        return loaded
    return None


def _type_names(types: Iterable[type]) -> str:
    return " or ".join(t.__name__ for t in types)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def validate_section(
    section: str, values: Mapping[str, Any], options: Sequence[ConfigOption]
) -> dict[str, Any]:
    """Check ``values`` against ``options`` and fill in defaults.

    Raises:
        ConfigError: naming the key, the section and what is accepted; every problem of the
            section at once.
    """
    problems: list[str] = []
    result = _validate_section(section, values, options, problems)
    if problems:
        raise ConfigError(problems)
    return result


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f" Did you mean {close[0]!r}?" if close else ""


def _validate_section(section: str, values: Any, options: Sequence[ConfigOption],
                      problems: list[str]) -> dict[str, Any]:
    """:func:`validate_section`, adding problems to ``problems`` instead of raising."""
    if not isinstance(values, Mapping):
        problems.append(f"Config section {section!r} must be a mapping of keys to values, got"
                        f" {values!r} ({type(values).__name__}).")
        values = {}
    by_name = {option.name: option for option in options}
    result: dict[str, Any] = {}
    for key, value in values.items():
        option = by_name.get(key)
        if option is None:
            if section == "lithops" and key in IGNORED_LITHOPS_KEYS:
                logger.warning("Config key %r in section 'lithops' is not used; ignoring it", key)
                continue
            accepted = ", ".join(sorted(by_name)) or "none"
            problems.append(f"Unknown config key {key!r} in section {section!r}.{_did_you_mean(str(key), by_name)}"
                            f" Accepted keys: {accepted}.")
            continue
        try:
            result[key] = _check_value(section, option, value)
        except ConfigError as exc:
            problems.extend(exc.problems)
    for option in options:
        if option.name not in result:
            if option.required:
                problems.append(f"Missing required config key {option.name!r} in section {section!r}: {option.doc}")
            result[option.name] = copy.deepcopy(option.default)
    return result


def _check_value(section: str, option: ConfigOption, value: Any) -> Any:
    if value is None:
        return None
    allowed = option.types
    # bool is an int in Python; only accept it where bool is allowed.
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok and float in allowed and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        shown = "***" if option.secret else repr(value)
        raise ConfigError(
            f"Config key {option.name!r} in section {section!r} must be {_type_names(allowed)},"
            f" got {shown} ({type(value).__name__})."
        )
    if option.name == "include_modules" and isinstance(value, str) and value.lower() != "none":
        raise ConfigError(
            f"Config key 'include_modules' in section {section!r} must be a list of module names or"
            f" null/'none', got {value!r}."
        )
    if option.name == "log_level" and isinstance(value, str) and value.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"Config key 'log_level' in section {section!r} must be one of {', '.join(LOG_LEVELS)}"
            f" (any case) or false, got {value!r}.{_did_you_mean(value.upper(), LOG_LEVELS)}"
        )
    if option.name == "log_level" and value is True:
        raise ConfigError(
            f"Config key 'log_level' in section {section!r} must be one of {', '.join(LOG_LEVELS)} or"
            " false, got true."
        )
    if option.choices is not None and value not in option.choices:
        choices = ", ".join(repr(c) for c in option.choices)
        hint = _did_you_mean(value, [str(c) for c in option.choices]) if isinstance(value, str) else ""
        raise ConfigError(
            f"Config key {option.name!r} in section {section!r} must be one of {choices}, got {value!r}.{hint}"
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_bounds(section, option, value)
    return value


def _check_bounds(section: str, option: ConfigOption, value: float) -> None:
    low, high = option.minimum, option.maximum
    too_low = low is not None and (value < low or (option.minimum_exclusive and value == low))
    too_high = high is not None and value > high
    if not (too_low or too_high):
        return
    if low is not None and high is not None and not option.minimum_exclusive:
        bound = f"between {low:g} and {high:g}"
    elif low is not None and too_low:
        bound = f"greater than {low:g}" if option.minimum_exclusive else f"at least {low:g}"
    else:
        bound = f"at most {high:g}"
    raise ConfigError(f"Config key {option.name!r} in section {section!r} must be {bound}, got {value!r}.")


def resolve_backends(lithops_section: Mapping[str, Any]) -> tuple[str, str]:
    """The compute and storage backend ids the configuration selects."""
    backend = lithops_section.get("backend")
    if backend is None:
        mode = lithops_section.get("mode") or "localhost"
        backend = DEFAULT_BACKEND_BY_MODE[mode]
    storage = lithops_section.get("storage")
    if storage is None:
        if registry.is_installed("compute", backend):
            storage = registry.load("compute", backend).default_storage
        else:
            storage = "localhost"
    return str(backend), str(storage)


def default_config(
    config_file: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    config_data: Mapping[str, Any] | None = None,
    config_overwrite: Mapping[str, Mapping[str, Any] | None] | None = None,
    load_storage_config: bool = True,
    *,
    load_backends: bool = True,
) -> dict[str, Any]:
    """The full, validated configuration.

    Called as in Lithops 3 (``default_config(config_data=..., config_overwrite=...)``, or with a
    ``config_file`` path first) or with the data first (``default_config(data, overwrite)``).

    Args:
        config_file: a YAML file to read; a dict here is taken as ``config_data`` (and a second
            positional argument then as ``config_overwrite``).
        config_data: a configuration dict; when neither it nor ``config_file`` is given it is read
            from the files in the lookup order of this module's docstring.
        config_overwrite: sections whose keys replace those of ``config_data``. The pseudo-section
            ``backend`` applies to the section of the selected compute backend, as in Lithops.
        load_storage_config: check that the storage backend is installed (Lithops' flag).
        load_backends: check that the selected backends are installed.

    Raises:
        ConfigError: an unknown section or key, or a bad value.
        BackendNotFoundError: the selected backend is not installed (with the package to install).
    """
    if isinstance(config_file, Mapping):
        if config_overwrite is None and config_data is not None:
            config_overwrite = config_data  # default_config(data, overwrite)
        config_data, config_file = config_file, None
    if config_data is not None:
        raw = copy.deepcopy(dict(config_data))
    elif config_file is not None:
        raw = load_yaml_config(config_file)
    else:
        raw = find_config()[0]
    overwrite = dict(config_overwrite or {})
    backend_overwrite = overwrite.pop("backend", None) or {}
    for section, values in overwrite.items():
        if raw.get(section) is None:
            raw[section] = {}
        if isinstance(raw[section], dict):  # a scalar section is reported by the validation below
            raw[section].update(values or {})
    if backend_overwrite:
        if not isinstance(backend_overwrite, Mapping):
            raise ConfigError("The 'backend' section of config_overwrite must be a mapping of the compute"
                              " backend's keys to values.")
        lithops_raw = raw.get("lithops")
        selected = resolve_backends(lithops_raw if isinstance(lithops_raw, Mapping) else {})[0]
        if raw.get(selected) is None:
            raw[selected] = {}
        if isinstance(raw[selected], dict):
            raw[selected].update(backend_overwrite)

    config: dict[str, Any] = {}
    problems: list[str] = []  # every problem of the configuration, reported at once
    lithops_section = raw.get("lithops") or {}
    config["lithops"] = _validate_section("lithops", lithops_section, LITHOPS_OPTIONS, problems)
    # A bad value was left out of the section: the backends resolve from the rest.
    backend, storage = resolve_backends(config["lithops"])
    config["lithops"]["backend"] = backend
    config["lithops"]["storage"] = storage
    if load_backends and not problems:
        registry.load("compute", backend)
        if load_storage_config:
            registry.load("storage", storage)

    for section, values in raw.items():
        if section == "lithops":
            continue
        options = options_for_section(section)
        if options is not None:
            config[section] = _validate_section(section, values or {}, options, problems)
        elif section in registry.KNOWN_PROVIDERS or section in KNOWN_SHARED_SECTIONS:
            # Owned by a package that is not installed: keep it for when it is.
            if values is not None and not isinstance(values, Mapping):
                problems.append(f"Config section {section!r} must be a mapping of keys to values, got"
                                f" {values!r} ({type(values).__name__}).")
                values = {}
            config[section] = copy.deepcopy(values or {})
        else:
            accepted = sorted(
                {"lithops", *registry.installed("compute"), *registry.installed("storage"),
                 *_shared_sections(), *registry.KNOWN_PROVIDERS, *KNOWN_SHARED_SECTIONS}
            )
            problems.append(f"Unknown config section {section!r}.{_did_you_mean(str(section), accepted)}"
                            f" Accepted sections: {', '.join(accepted)}.")
    if problems:
        raise ConfigError(problems)
    for section in (backend, storage):
        if section not in config:
            options = options_for_section(section)
            config[section] = validate_section(section, {}, options) if options is not None else {}
    _fill_from_shared_sections(config, raw)
    return masked(config)


class MaskedConfig(dict[str, Any]):
    """A configuration (or one section) whose ``repr``/``str`` replace secrets with ``***``.

    A plain dict otherwise: reading, copying and pickling see the real values. Printing a
    config, logging it or showing it in a traceback does not leak credentials.
    """

    def __init__(self, values: Mapping[str, Any] = (), secrets: frozenset[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(values)
        self._secrets = frozenset(secrets)

    def __repr__(self) -> str:
        return repr({key: ("***" if key in self._secrets and value is not None else value)
                     for key, value in self.items()})

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self), self._secrets))

    def __copy__(self) -> MaskedConfig:
        return type(self)(self, self._secrets)

    def __deepcopy__(self, memo: dict[int, Any]) -> MaskedConfig:
        return type(self)(copy.deepcopy(dict(self), memo), self._secrets)


def masked(config: Mapping[str, Any]) -> MaskedConfig:
    """``config`` (sections of values) with secret-masking ``repr`` on it and on each section."""
    sections: dict[str, Any] = {}
    for section, values in config.items():
        if isinstance(values, Mapping):
            try:
                secrets = secret_names(section)
            except (BackendNotFoundError, ConfigError):
                secrets = frozenset()
            sections[section] = MaskedConfig(values, secrets)
        else:
            sections[section] = values
    return MaskedConfig(sections)


def inherited_sections(section: str) -> tuple[str, ...]:
    """The shared sections whose keys fill in the ones ``section`` leaves unset (``aws`` for
    ``aws_s3``), as declared by the backend class's ``config_inherits``."""
    inherited: list[str] = []
    for kind in ("compute", "storage"):
        if registry.is_installed(kind, section):
            inherited += registry.load(kind, section).config_inherits
    return tuple(dict.fromkeys(inherited))


def _fill_from_shared_sections(config: dict[str, Any], raw: Mapping[str, Any]) -> None:
    """Give each backend section the values of its shared sections (``aws: {region: ...}``) for
    the keys it declares and the user left unset in it: the backend's own section wins."""
    for section, values in config.items():
        if section == "lithops" or not isinstance(values, dict):
            continue
        own = raw.get(section) or {}
        for shared in inherited_sections(section):
            for key, value in (config.get(shared) or {}).items():
                if key in values and key not in own and value is not None:
                    values[key] = copy.deepcopy(value)


def extract_storage_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a full configuration a ``Storage`` needs (Lithops' shape)."""
    lithops_section = config.get("lithops", {})
    backend = lithops_section.get("storage") or resolve_backends(lithops_section)[1]
    return {
        "backend": backend,
        "bucket": lithops_section.get("storage_bucket"),
        backend: dict(config.get(backend) or {}),
    }


def secret_names(section: str) -> frozenset[str]:
    options = options_for_section(section) or ()
    return frozenset(option.name for option in options if option.secret)


def public_section(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the secret options: safe to log or to put into a payload."""
    secrets = secret_names(section)
    return {key: value for key, value in values.items() if key not in secrets}


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a full configuration with every secret replaced by ``***``, for display."""
    shown: dict[str, Any] = {}
    for section, values in config.items():
        if not isinstance(values, Mapping):
            shown[section] = values
            continue
        try:
            secrets = secret_names(section)
        except BackendNotFoundError:
            secrets = frozenset()
        shown[section] = {
            key: ("***" if key in secrets and value is not None else value) for key, value in values.items()
        }
    return shown
