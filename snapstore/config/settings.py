"""Settings: defaults, then the TOML file, then environment variables, then flags.

The file is ``--config``, else ``$SNAPSTORE_CONFIG``, else ``./snapstore.toml`` when it exists,
else ``config.toml`` in the user's config folder (``platformdirs.user_config_dir("snapstore")``,
``~/.config/snapstore/config.toml`` on Linux) when it exists; only one file is read
(spec/cli.md, "Configuration"). Every key's type is checked where it is read, so a wrong value
is one error line naming the key and the file or variable, never a traceback or a surprise
(``auto_cleanup = "false"`` is an error, not true).

Defaults follow the seed (prefix ``metis``, database ``arxiv_datastore``, bulk
``/bulk-store/metis/experiments``, repository ``/bulk-store/metis/snapshots``). The database
password is never a flag: it comes from ``$SNAPSTORE_ARANGO_PASSWORD`` or a password file.
"""

from __future__ import annotations

import contextlib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from snapstore.backend import S3Options
from snapstore.base.errors import ConfigError

DEFAULT_EXCLUDES = (".tmp", "__pycache__", ".git")
PERMISSIONS = ("private", "group")


@dataclass(frozen=True)
class ArangoSettings:
    """How to reach the database; ``url`` None means no database is configured."""

    url: str | None = None
    database: str = "arxiv_datastore"
    user: str = "root"
    password_file: str | None = None
    auth: str = "basic"  # or "jwt"
    verify_tls: bool = True
    timeout: float = 60.0

    def password(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        if "SNAPSTORE_ARANGO_PASSWORD" in env:
            return env["SNAPSTORE_ARANGO_PASSWORD"]
        path = env.get("SNAPSTORE_ARANGO_PASSWORD_FILE") or self.password_file
        if path:
            try:
                return Path(path).expanduser().read_text().rstrip("\r\n")
            except OSError as e:
                raise ConfigError(
                    f"cannot read the ArangoDB password file {path}: {e.strerror}"
                ) from None
        return ""


@dataclass(frozen=True)
class Settings:
    """Everything the manager needs to know, resolved."""

    repository: str = "/bulk-store/metis/snapshots"
    bulk: tuple[str, ...] = ("/bulk-store/metis/experiments",)
    prefix: str = "metis"
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    project_dir: str = "."
    cache_dir: str | None = None
    lock_wait: float = 0.0
    auto_cleanup: bool = True
    # "private": repository files 0600, folders 0700; "group": 0640 / 2770 (README,
    # "Permissions and shared repositories"; spec/backends.md).
    permissions: str = "private"
    # Read without taking the repository's lock (``--no-lock``; spec/locking.md): a flag of
    # one command, never read from the file or the environment.
    no_lock: bool = False
    arangodb: ArangoSettings = field(default_factory=ArangoSettings)
    s3: S3Options = field(default_factory=S3Options)
    retention: Mapping[str, Any] = field(default_factory=dict)
    config_file: str | None = None
    # Encrypted repositories (spec/encryption.md): ``encryption`` makes ``create`` on first use
    # create an encrypted one; ``password_command`` prints the password (never a flag).
    encryption: bool = False
    password_command: str | None = None

    @property
    def database_configured(self) -> bool:
        return bool(self.arangodb.url)

    @property
    def group_access(self) -> bool:
        return self.permissions == "group"


# -- value checks: each returns the value in its settled type or raises ValueError(what) ------

Check = Callable[[object], Any]


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)} ({value!r})")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_text(value),)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(_text(v) for v in value)
    raise ValueError(f"must be a string or a list of strings, not {value!r}")


def _flag(value: object) -> bool:
    # TOML has real booleans; "false" (a string) would be truthy if let through.
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (a TOML boolean, unquoted), not {value!r}")
    return value


def _seconds(*, positive: bool) -> Check:
    def check(given: object) -> float:
        value = given
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)  # from the environment: text
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number of seconds, not {given!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            least = "more than 0" if positive else "0 or more"
            raise ValueError(f"must be a finite number of seconds ({least}), not {given!r}")
        return number

    return check


def _count(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a whole number of at least 1, not {value!r}")
    return value


def _choice(*allowed: str) -> Check:
    def check(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"must be {' or '.join(repr(a) for a in allowed)}, not {value!r}")
        return str(value)

    return check


_TOP: dict[str, Check] = {
    "repository": _text,
    "bulk": _texts,
    "prefix": _text,
    "exclude": _texts,
    "project_dir": _text,
    "cache_dir": _text,
    "lock_wait": _seconds(positive=False),
    "auto_cleanup": _flag,
    "permissions": _choice(*PERMISSIONS),
    "encryption": _flag,
    "password_command": _text,
}
_ARANGO: dict[str, Check] = {
    "url": _text,
    "database": _text,
    "user": _text,
    "password_file": _text,
    "auth": _choice("basic", "jwt"),
    "verify_tls": _flag,
    "timeout": _seconds(positive=True),
}
_S3: dict[str, Check] = {
    "endpoint": _text,
    "region": _text,
    "max_attempts": _count,
    "connect_timeout": _seconds(positive=True),
    "read_timeout": _seconds(positive=True),
}
_TABLES = {"arangodb": _ARANGO, "s3": _S3}


def _checked(checks: Mapping[str, Check], key: str, value: object, where: str, name: str) -> Any:
    try:
        return checks[key](value)
    except ValueError as e:
        raise ConfigError(f"{where}: {name} {e}") from None


# -- the layers --------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not a text file (not UTF-8): expected TOML"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def _from_file(path: Path) -> dict[str, Any]:
    doc = _read_toml(path)
    where = f"config file {path}"
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if (key in _TABLES or key == "retention") and not isinstance(value, dict):
            raise ConfigError(f"{where}: [{key}] must be a table, not {_type_name(value)}")
        if key == "arangodb" and "password" in value:
            raise ConfigError(
                f"{where}: put the ArangoDB password in a file named by "
                "arangodb.password_file or in $SNAPSTORE_ARANGO_PASSWORD, not in the config"
            )
        if key in _TABLES:
            checks = _TABLES[key]
            bad = sorted(set(value) - set(checks))
            if bad:
                raise ConfigError(f"{where}: unknown key {key}.{bad[0]}")
            out[key] = {k: _checked(checks, k, v, where, f"{key}.{k}") for k, v in value.items()}
        elif key == "retention":
            _check_retention(value, where)
            out[key] = dict(value)
        elif key in _TOP:
            out[key] = _checked(_TOP, key, value, where, key)
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    return out


def _check_retention(table: Mapping[str, object], where: str) -> None:
    from snapstore.base.retention import RetentionPolicy  # pure policy; imported only here

    try:
        RetentionPolicy.from_mapping(table)
    except ValueError as e:
        raise ConfigError(f"{where}: [retention]: {e}") from None


_ENV = {
    "SNAPSTORE_REPO": "repository",
    "SNAPSTORE_PREFIX": "prefix",
    "SNAPSTORE_PROJECT_DIR": "project_dir",
    "SNAPSTORE_CACHE_DIR": "cache_dir",
    "SNAPSTORE_LOCK_WAIT": "lock_wait",
    "SNAPSTORE_PERMISSIONS": "permissions",
}
_ENV_ARANGO = {
    "SNAPSTORE_ARANGO_URL": "url",
    "SNAPSTORE_ARANGO_DB": "database",
    "SNAPSTORE_ARANGO_USER": "user",
    "SNAPSTORE_ARANGO_AUTH": "auth",
}
# The S3 variables (spec/backends.md); AWS_* are botocore's own names, kept so that an
# environment set up for the aws CLI works here too.
_ENV_S3 = {
    "SNAPSTORE_S3_ENDPOINT": "endpoint",
    "AWS_DEFAULT_REGION": "region",
    "AWS_REGION": "region",  # after AWS_DEFAULT_REGION: it wins when both are set
    "AWS_MAX_ATTEMPTS": "max_attempts",
    "SNAPSTORE_S3_CONNECT_TIMEOUT": "connect_timeout",
    "SNAPSTORE_S3_READ_TIMEOUT": "read_timeout",
}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, key in _ENV.items():
        if env.get(var):
            out[key] = _checked(_TOP, key, env[var], "environment", var)
    if env.get("SNAPSTORE_BULK"):
        out["bulk"] = tuple(p for p in env["SNAPSTORE_BULK"].split(":") if p)
    if "SNAPSTORE_EXCLUDE" in env:
        out["exclude"] = tuple(p for p in env["SNAPSTORE_EXCLUDE"].split(":") if p)
    for table, names, checks in (("arangodb", _ENV_ARANGO, _ARANGO), ("s3", _ENV_S3, _S3)):
        found = {
            key: _checked(checks, key, env[var], "environment", var)
            for var, key in names.items()
            if env.get(var)
        }
        if found:
            out[table] = found
    return out


def user_config_file() -> Path:
    """``config.toml`` in the user's config folder (read when no other file is named)."""
    return Path(platformdirs.user_config_dir("snapstore")) / "config.toml"


def config_path(
    config_file: str | None, env: Mapping[str, str], cwd: Path | None = None
) -> Path | None:
    """The one TOML file to read, in lookup order (spec/cli.md), or None."""
    if config_file:
        return Path(config_file)
    if env.get("SNAPSTORE_CONFIG"):
        return Path(env["SNAPSTORE_CONFIG"])
    for candidate in ((cwd or Path.cwd()) / "snapstore.toml", user_config_file()):
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue  # a folder we may not enter (another user's $XDG_CONFIG_HOME): no file
    return None


def load_settings(
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings: defaults < file < environment < ``overrides`` (flags).

    ``overrides`` uses the same keys as the file; None values mean "not given". Flags are
    checked by their click types; ``overrides`` from a program are checked here like the rest.
    """
    env = os.environ if env is None else env
    path = config_path(config_file, env, cwd)
    flags: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value in (None, ()):
            continue
        if key in _TOP:
            value = _checked(_TOP, key, value, "option", key)
        flags[key] = value
    layers = [_from_file(path) if path else {}, _from_env(env), flags]
    settings = Settings(config_file=str(path) if path else None)
    tables: dict[str, Any] = {"arangodb": ArangoSettings(), "s3": S3Options()}
    for layer in layers:
        for key, value in layer.items():
            if key in tables:
                given = {k: v for k, v in value.items() if v is not None}
                tables[key] = replace(tables[key], **given)
            else:
                settings = replace(settings, **{key: value})
    return replace(
        settings,
        arangodb=tables["arangodb"],
        s3=tables["s3"],
        bulk=tuple(settings.bulk),
        exclude=tuple(settings.exclude),
    )
