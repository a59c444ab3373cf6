"""Settings: defaults, then the TOML file, then environment variables, then flags.

The file is ``--config``, else ``$SNAPSTORE_CONFIG``, else ``./snapstore.toml`` when it exists.
Defaults follow the seed (prefix ``metis``, database ``arxiv_datastore``, bulk
``/bulk-store/metis/experiments``, repository ``/bulk-store/metis/snapshots``). The database
password is never a flag: it comes from ``$SNAPSTORE_ARANGO_PASSWORD`` or a password file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from snapstore.errors import ConfigError

DEFAULT_EXCLUDES = (".tmp", "__pycache__", ".git")


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
    arangodb: ArangoSettings = field(default_factory=ArangoSettings)
    retention: Mapping[str, Any] = field(default_factory=dict)
    config_file: str | None = None

    @property
    def database_configured(self) -> bool:
        return bool(self.arangodb.url)


_TOP_KEYS = {f.name for f in fields(Settings)} - {"config_file"}
_ARANGO_KEYS = {f.name for f in fields(ArangoSettings)}


def _strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"config key {key!r} must be a string or a list of strings")


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in _TOP_KEYS:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        if key == "arangodb":
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: [arangodb] must be a table")
            if "password" in value:
                raise ConfigError(
                    f"config file {path}: put the ArangoDB password in a file named by "
                    "arangodb.password_file or in $SNAPSTORE_ARANGO_PASSWORD, not in the config"
                )
            bad = set(value) - _ARANGO_KEYS
            if bad:
                raise ConfigError(f"config file {path}: unknown key arangodb.{sorted(bad)[0]}")
            out["arangodb"] = dict(value)
        elif key == "retention":
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: [retention] must be a table")
            out["retention"] = dict(value)
        elif key in ("bulk", "exclude"):
            out[key] = _strings(value, key)
        else:
            out[key] = value
    return out


_ENV = {
    "SNAPSTORE_REPO": "repository",
    "SNAPSTORE_PREFIX": "prefix",
    "SNAPSTORE_PROJECT_DIR": "project_dir",
    "SNAPSTORE_CACHE_DIR": "cache_dir",
    "SNAPSTORE_LOCK_WAIT": "lock_wait",
}
_ENV_ARANGO = {
    "SNAPSTORE_ARANGO_URL": "url",
    "SNAPSTORE_ARANGO_DB": "database",
    "SNAPSTORE_ARANGO_USER": "user",
    "SNAPSTORE_ARANGO_AUTH": "auth",
}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: env[e] for e, k in _ENV.items() if env.get(e)}
    if env.get("SNAPSTORE_BULK"):
        out["bulk"] = tuple(p for p in env["SNAPSTORE_BULK"].split(":") if p)
    if env.get("SNAPSTORE_EXCLUDE") is not None and "SNAPSTORE_EXCLUDE" in env:
        out["exclude"] = tuple(p for p in env["SNAPSTORE_EXCLUDE"].split(":") if p)
    arango = {k: env[e] for e, k in _ENV_ARANGO.items() if env.get(e)}
    if arango:
        out["arangodb"] = arango
    return out


def load_settings(
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings: defaults < file < environment < ``overrides`` (flags).

    ``overrides`` uses the same keys as the file; None values mean "not given".
    """
    env = os.environ if env is None else env
    path: Path | None = None
    if config_file:
        path = Path(config_file)
    elif env.get("SNAPSTORE_CONFIG"):
        path = Path(env["SNAPSTORE_CONFIG"])
    elif (cand := (cwd or Path.cwd()) / "snapstore.toml").is_file():
        path = cand
    layers = [_from_file(path) if path else {}, _from_env(env)]
    layers.append({k: v for k, v in (overrides or {}).items() if v not in (None, ())})
    settings = Settings(config_file=str(path) if path else None)
    arango = ArangoSettings()
    for layer in layers:
        for key, value in layer.items():
            if key == "arangodb":
                arango = replace(arango, **{k: v for k, v in value.items() if v is not None})
            else:
                settings = replace(settings, **{key: value})
    try:
        lock_wait = float(settings.lock_wait)
        timeout = float(arango.timeout)
    except (TypeError, ValueError):
        raise ConfigError("lock_wait and arangodb.timeout must be numbers of seconds") from None
    if arango.auth not in ("basic", "jwt"):
        raise ConfigError(f"arangodb.auth must be 'basic' or 'jwt', not {arango.auth!r}")
    return replace(
        settings,
        arangodb=replace(arango, timeout=timeout),
        lock_wait=lock_wait,
        bulk=tuple(settings.bulk),
        exclude=tuple(settings.exclude),
    )
