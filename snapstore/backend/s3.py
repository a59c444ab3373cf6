"""S3 backend: one S3 object per repository object, in a bucket under a key prefix.

The key layout mirrors the local directory exactly (``config``, ``packs/<first two hex
digits>/<name>``, ``index/<name>``, ``snapshots/<name>``, ``archives/<name>``, ``locks/<name>``;
no ``tmp/``, since an S3 PUT is atomic by itself), so a repository copied with ``rclone`` or
``aws s3 sync`` from a directory to a bucket, or back, is still a valid repository. The pack
fan-out costs nothing on S3 (packs are listed with one prefix listing either way) and spreads
keys over more prefixes, which S3 uses to partition request rates.

Configuration comes from the environment, or else the TOML ``[s3]`` table (spec/backends.md):
``SNAPSTORE_S3_ENDPOINT`` (unset: AWS itself, or botocore's ``AWS_ENDPOINT_URL_S3``),
credentials from boto3's standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
profiles...), ``AWS_REGION`` (default us-east-1), ``AWS_MAX_ATTEMPTS`` (default 4, boto3
"standard" retry mode), ``SNAPSTORE_S3_CONNECT_TIMEOUT`` / ``SNAPSTORE_S3_READ_TIMEOUT`` in
seconds (default 10 / 60).

Why one module of ~470 lines: every method is one S3 request with its error translation, and
the conditional-write and retry rules they share read best side by side.
Addressing is path-style, which every S3-compatible server understands.

Create-only puts (``overwrite=False``) are S3 conditional writes: ``If-None-Match: *`` on the
PUT, which the server refuses with 412 when the key exists. AWS S3 supports it since August
2024; SeaweedFS 4.x honours it atomically (checked with concurrent racing PUTs: exactly one
winner, see tests/backend). A server that answers 501 NotImplemented gets a best-effort
fallback instead: HEAD, then PUT when the key is absent, which is NOT atomic (two racing
writers can both succeed, the later one winning). A server that silently ignores the header
cannot be detected; do not use one.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import boto3
import botocore.exceptions as bex
import botocore.loaders
import botocore.session
from botocore.config import Config

from snapstore.backend import S3Options
from snapstore.backend.base import Backend, Kind, ObjectInfo, check_name
from snapstore.base.errors import (
    ConfigError,
    DeleteRefused,
    InvalidInput,
    ObjectExists,
    ObjectNotFound,
    RepositoryError,
)

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0

# AWS bucket naming rules (lower-case, 3-63 characters); stricter than some servers, but a name
# that passes works everywhere and path-style URLs never need escaping.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

# Error codes that mean "these credentials are not accepted here".
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "403",
}

_loader_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None


def _new_session(region: str) -> boto3.session.Session:
    """A fresh boto3 session (credentials resolved anew) sharing one model loader.

    Loading botocore's S3 model costs ~0.4 s per session and the manager opens a backend per
    operation; the loader caches the parsed model, so only the first backend pays. A session of
    its own per backend also avoids boto3's default session, which is not thread-safe.
    """
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        core = botocore.session.get_session()
        core.register_component("data_loader", _loader)
        return boto3.session.Session(botocore_session=core, region_name=region)


def _env_float(env: Mapping[str, str], var: str, default: float) -> float:
    raw = env.get(var)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{var} must be positive, not {raw!r}")
    return value


def _env_int(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{var} must be at least 1, not {raw!r}")
    return value


def _connection_reason(e: Exception) -> str:
    """A short, human reason for a failed connection ("connection refused", "timed out")."""
    text = str(getattr(e, "kwargs", {}).get("error", "") or e)
    low = text.lower()
    if isinstance(e, bex.ConnectTimeoutError) or "timed out" in low or "timeout" in low:
        return "connection timed out"
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low:
        return "unknown host name"
    if "failed to resolve" in low or "temporary failure in name resolution" in low:
        return "unknown host name"
    if "unreachable" in low:
        return "network unreachable"
    if isinstance(e, bex.ConnectionClosedError):
        return "the server closed the connection"
    if isinstance(e, bex.SSLError):
        return f"TLS error ({text})"
    return text or type(e).__name__


class S3Backend(Backend):
    """Objects as S3 objects under ``s3://bucket/prefix`` on one endpoint."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str = DEFAULT_REGION,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if not _BUCKET.match(bucket):
            raise InvalidInput(
                f"invalid S3 bucket name {bucket!r}: use 3-63 lower-case letters, digits, "
                "dots and dashes"
            )
        self.bucket = bucket
        self.prefix = "/".join(p for p in prefix.split("/") if p)
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._root = f"{self.prefix}/" if self.prefix else ""
        config = Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=16,
        )
        self._max_attempts = max_attempts
        # Conditional PUT until the server proves it does not implement it (see module doc).
        self._conditional_put = True
        try:
            session = _new_session(region)
            self._client: Any = session.client("s3", endpoint_url=endpoint or None, config=config)
        except ValueError as e:  # botocore rejects a malformed endpoint URL this way
            raise ConfigError(f"invalid S3 endpoint {endpoint!r}: {e}") from None
        self.endpoint = str(self._client.meta.endpoint_url)

    @classmethod
    def from_url(
        cls, url: str, env: Mapping[str, str] | None = None, options: S3Options | None = None
    ) -> S3Backend:
        """``s3://bucket`` or ``s3://bucket/prefix``, configured from the environment, which
        overrides ``options`` (the TOML ``[s3]`` table), which override the defaults."""
        env = os.environ if env is None else env
        opt = options or S3Options()
        if not url.startswith("s3://"):
            raise InvalidInput(f"not an S3 URL: {url!r} (expected s3://bucket/prefix)")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidInput(f"S3 URL {url!r} names no bucket (expected s3://bucket/prefix)")
        if any(p in (".", "..") for p in prefix.split("/")):
            raise InvalidInput(f"S3 URL {url!r}: the prefix may not contain '.' or '..' parts")
        return cls(
            bucket,
            prefix,
            endpoint=env.get("SNAPSTORE_S3_ENDPOINT") or opt.endpoint or None,
            region=env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or opt.region
            or DEFAULT_REGION,
            max_attempts=_env_int(
                env, "AWS_MAX_ATTEMPTS", opt.max_attempts or DEFAULT_MAX_ATTEMPTS
            ),
            connect_timeout=_env_float(
                env, "SNAPSTORE_S3_CONNECT_TIMEOUT", opt.connect_timeout or DEFAULT_CONNECT_TIMEOUT
            ),
            read_timeout=_env_float(
                env, "SNAPSTORE_S3_READ_TIMEOUT", opt.read_timeout or DEFAULT_READ_TIMEOUT
            ),
        )

    # -- layout -------------------------------------------------------------------------------

    def key(self, kind: Kind, name: str) -> str:
        """The S3 key of an object (the local layout under the prefix)."""
        if kind is Kind.CONFIG:
            return f"{self._root}config"
        check_name(name)
        if kind is Kind.PACKS:
            return f"{self._root}packs/{name[:2]}/{name}"
        return f"{self._root}{kind.value}/{name}"

    # -- errors -------------------------------------------------------------------------------

    def _fail(self, e: Exception, what: str) -> NoReturn:
        """Raise the snapstore error for a boto3 failure while doing ``what``: one clear line."""
        if isinstance(e, bex.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                raise RepositoryError(
                    f"S3 bucket {self.bucket!r} does not exist at {self.endpoint} "
                    "(`snapstore init` creates it)"
                ) from None
            if code in _AUTH_CODES or status == 403:
                # A HEAD has no body to carry an error code: only the status is known.
                reason = f"HTTP {status}" if code.isdigit() or not code else code
                raise RepositoryError(
                    f"S3 endpoint {self.endpoint} refused access to {self.location} ({reason}): "
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket's permissions"
                ) from None
            message = err.get("Message") or ""
            raise RepositoryError(
                f"S3 request failed while {what} in {self.location}: {code or status}"
                + (f" ({message})" if message else "")
            ) from None
        if isinstance(e, bex.NoCredentialsError | bex.PartialCredentialsError):
            raise RepositoryError(
                f"no usable S3 credentials for {self.location}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile)"
            ) from None
        if isinstance(e, bex.ConnectionError | bex.HTTPClientError):
            raise RepositoryError(
                f"cannot reach S3 endpoint {self.endpoint}: {_connection_reason(e)}"
            ) from None
        raise RepositoryError(f"S3 error while {what} in {self.location}: {e}") from None

    @staticmethod
    def _code(e: bex.ClientError) -> tuple[str, int | None]:
        code = str(e.response.get("Error", {}).get("Code", ""))
        return code, e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")

    @classmethod
    def _is_missing(cls, e: Exception) -> bool:
        if not isinstance(e, bex.ClientError):
            return False
        code, status = cls._code(e)
        # A HEAD has no body, so a missing key is a bare 404 there ("404" or "NotFound").
        return code in ("NoSuchKey", "NotFound") or (code == "404" and status == 404)

    # -- repository ---------------------------------------------------------------------------

    def exists(self) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(Kind.CONFIG, "config"))
        except (bex.BotoCoreError, bex.ClientError) as e:
            if self._is_missing(e):
                return False  # no config, or no bucket at all: either way no repository
            self._fail(e, "looking for the config object")
        return True

    def create(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (bex.BotoCoreError, bex.ClientError) as e:
            if not (isinstance(e, bex.ClientError) and self._code(e)[1] == 404):
                self._fail(e, "looking for the bucket")
            self._create_bucket()
        if self.exists():
            return
        try:
            page = self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._root, MaxKeys=1)
        except (bex.BotoCoreError, bex.ClientError) as e:
            self._fail(e, "listing the prefix")
        if page.get("KeyCount", 0) or page.get("Contents"):
            raise RepositoryError(
                f"{self.location} is not empty and not a snapstore repository; "
                "choose another bucket or prefix"
            )

    def _create_bucket(self) -> None:
        region = self._client.meta.region_name
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":  # us-east-1 rejects an explicit constraint
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**args)
        except (bex.BotoCoreError, bex.ClientError) as e:
            if isinstance(e, bex.ClientError) and self._code(e)[0] == "BucketAlreadyOwnedByYou":
                return  # someone (perhaps us, in a retry) created it meanwhile
            self._fail(e, f"creating bucket {self.bucket!r}")

    # -- objects ------------------------------------------------------------------------------

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        key = self.key(kind, name)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": bytes(data)}
        for attempt in range(1, self._max_attempts + 1):
            if not overwrite and not self._conditional_put and self._head(key) is not None:
                raise ObjectExists(f"{kind.value}/{name} already exists")
            if not overwrite and self._conditional_put:
                args["IfNoneMatch"] = "*"
            else:
                args.pop("IfNoneMatch", None)
            try:
                self._client.put_object(**args)
                return
            except (bex.BotoCoreError, bex.ClientError) as e:
                if not isinstance(e, bex.ClientError) or overwrite:
                    self._fail(e, f"writing {kind.value}/{name}")
                code, status = self._code(e)
                if code == "PreconditionFailed" or status == 412:
                    raise ObjectExists(f"{kind.value}/{name} already exists") from None
                conflict = code == "ConditionalRequestConflict" or status == 409
                if conflict and attempt < self._max_attempts:
                    # AWS: another conditional write to this key is in flight; ask again and
                    # the answer is 412 (it won) or success (it failed).
                    time.sleep(0.1 * attempt)
                    continue
                if (code == "NotImplemented" or status == 501) and self._conditional_put:
                    self._conditional_put = False  # best effort from now on (module doc)
                    continue
                self._fail(e, f"writing {kind.value}/{name}")
        raise RepositoryError(
            f"S3 kept refusing the create-only write of {kind.value}/{name} in {self.location}"
        )

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        """Upload a big local file (multipart, streamed from disk), then remove it. Only
        overwriting puts stream: create-only puts of big objects are not needed."""
        if not overwrite:
            super().put_file(kind, name, path, overwrite=False)
            return
        try:
            self._client.upload_file(path, self.bucket, self.key(kind, name))
        except (bex.BotoCoreError, bex.ClientError) as e:
            self._fail(e, f"writing {kind.value}/{name}")
        os.unlink(path)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
            return head
        except (bex.BotoCoreError, bex.ClientError) as e:
            if self._is_missing(e):
                return None
            self._fail(e, f"reading {key}")

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset {offset}, length {length}")
        key = self.key(kind, name)
        if length == 0:
            self.stat(kind, name)  # still say ObjectNotFound for a missing object
            return b""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if length is not None:
            args["Range"] = f"bytes={offset}-{offset + length - 1}"
        elif offset:
            args["Range"] = f"bytes={offset}-"
        # A body read that breaks off after the headers came is not retried by botocore (it
        # happens after the call returned), so the whole request is retried here.
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self._client.get_object(**args)
            except (bex.BotoCoreError, bex.ClientError) as e:  # botocore retried these already
                if self._is_missing(e):
                    raise ObjectNotFound(f"{kind.value}/{name} is missing") from None
                if isinstance(e, bex.ClientError) and self._code(e)[0] == "InvalidRange":
                    # The range starts at or after the end (the object exists: 404 otherwise).
                    if length is None:
                        return b""
                    raise ObjectNotFound(
                        f"{kind.value}/{name} is shorter than expected "
                        f"(wanted {length} bytes at {offset}, got 0)"
                    ) from None
                self._fail(e, f"reading {kind.value}/{name}")
            try:
                data: bytes = resp["Body"].read()
                break
            except bex.BotoCoreError as e:  # cut off mid-body, or a checksum mismatch
                if attempt == self._max_attempts:
                    self._fail(e, f"reading {kind.value}/{name}")
                time.sleep(0.2 * attempt)
        if "Range" in args and not resp.get("ContentRange"):
            # A server that ignores Range sends the whole object (200): cut it here.
            data = data[offset:] if length is None else data[offset : offset + length]
        if length is not None and len(data) != length:
            raise ObjectNotFound(
                f"{kind.value}/{name} is shorter than expected "
                f"(wanted {length} bytes at {offset}, got {len(data)})"
            )
        return data

    def stat(self, kind: Kind, name: str) -> ObjectInfo:
        head = self._head(self.key(kind, name))
        if head is None:
            raise ObjectNotFound(f"{kind.value}/{name} is missing")
        return ObjectInfo(name, int(head["ContentLength"]), head["LastModified"].timestamp())

    def list(self, kind: Kind) -> Iterator[ObjectInfo]:
        if kind is Kind.CONFIG:
            head = self._head(self.key(Kind.CONFIG, "config"))
            if head is not None:
                yield ObjectInfo(
                    "config", int(head["ContentLength"]), head["LastModified"].timestamp()
                )
            return
        base = f"{self._root}{kind.value}/"
        # list_objects_v2 pages hold at most 1000 keys; the paginator follows continuation
        # tokens. boto3 asks for URL-encoded keys and decodes them, so any name survives XML.
        pages = iter(
            self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
        )
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except (bex.BotoCoreError, bex.ClientError) as e:
                self._fail(e, f"listing {kind.value}")
            for obj in page.get("Contents", ()):
                name = self._name_in(kind, obj["Key"][len(base) :])
                if name is not None:
                    yield ObjectInfo(name, int(obj["Size"]), obj["LastModified"].timestamp())

    @staticmethod
    def _name_in(kind: Kind, rest: str) -> str | None:
        """The object name for a key below ``<prefix>/<kind>/``, or None for foreign keys."""
        if kind is Kind.PACKS:
            folder, _, name = rest.partition("/")
            if folder != name[:2]:
                return None
        else:
            name = rest
        if not name or "/" in name or name.startswith("."):
            return None  # folder markers, hidden files, anything the local layout never has
        return name

    def delete(self, kind: Kind, name: str) -> None:
        try:
            # S3 answers 204 whether or not the key existed: deleting is idempotent.
            self._client.delete_object(Bucket=self.bucket, Key=self.key(kind, name))
        except (bex.BotoCoreError, bex.ClientError) as e:
            if self._is_missing(e):
                return
            if isinstance(e, bex.ClientError):
                code, status = self._code(e)
                if code in ("AccessDenied", "Forbidden") or status == 403:
                    # Credentials that may write but not delete (spec/backends.md,
                    # "Append-only storage"): the operation says what that means.
                    raise DeleteRefused(
                        f"S3 endpoint {self.endpoint} refused to delete {kind.value}/{name} in "
                        f"{self.location} ({code or status})"
                    ) from None
            self._fail(e, f"deleting {kind.value}/{name}")

    def close(self) -> None:
        self._client.close()
