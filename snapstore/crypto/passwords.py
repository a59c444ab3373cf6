"""Where an encrypted repository's password comes from (spec/encryption.md, "Passwords").

In this order, as restic does: the file named by ``$SNAPSTORE_PASSWORD_FILE``, then
``$SNAPSTORE_PASSWORD``, then the output of ``password_command`` (config file, or
``$SNAPSTORE_PASSWORD_COMMAND``; run without a shell, first line of its output), then a prompt
on the terminal. Never a flag: a command line shows in ``ps``. A new password (``init``,
``key add``, ``key passwd``) comes from ``$SNAPSTORE_NEW_PASSWORD_FILE`` or
``$SNAPSTORE_NEW_PASSWORD`` when set, else from the same sources (``init``) or a prompt asked
twice. No message ever contains a password.
"""

from __future__ import annotations

import getpass
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from snapstore.base.errors import PasswordError

COMMAND_TIMEOUT = 120.0


def _read_file(path: str, var: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise PasswordError(f"cannot read the password file named by {var}: {why}") from None


def _run(command: str) -> str:
    try:
        done = subprocess.run(
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise PasswordError(f"password_command could not run ({type(e).__name__})") from None
    if done.returncode != 0:
        raise PasswordError(f"password_command failed (exit status {done.returncode})")
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0]:
        raise PasswordError("password_command printed no password")
    return lines[0]


@dataclass(frozen=True)
class PasswordSource:
    """The password sources of one process: the environment and ``password_command``."""

    command: str | None = None
    env: Mapping[str, str] | None = None

    def _env(self) -> Mapping[str, str]:
        return os.environ if self.env is None else self.env

    def _given(self, file_var: str, var: str) -> str | None:
        env = self._env()
        if env.get(file_var):
            return _read_file(env[file_var], file_var)
        if var in env:
            return env[var]
        return None

    def get(self, location: str) -> str:
        """The password of the repository at ``location``."""
        given = self._given("SNAPSTORE_PASSWORD_FILE", "SNAPSTORE_PASSWORD")
        if given is not None:
            return given
        command = self._env().get("SNAPSTORE_PASSWORD_COMMAND") or self.command
        if command:
            return _run(command)
        return self._prompt(f"password for the encrypted repository at {location}: ")

    def new(self, location: str, *, first: bool) -> str:
        """A new password: for a new repository (``first``) or for a new key object."""
        given = self._given("SNAPSTORE_NEW_PASSWORD_FILE", "SNAPSTORE_NEW_PASSWORD")
        if given is None and first:
            env = self._env()
            if (
                env.get("SNAPSTORE_PASSWORD_FILE")
                or "SNAPSTORE_PASSWORD" in env
                or env.get("SNAPSTORE_PASSWORD_COMMAND")
                or self.command
            ):
                given = self.get(location)
        if given is None:
            given = self._prompt(f"new password for {location}: ")
            if self._prompt("the same password again: ") != given:
                raise PasswordError("the two passwords differ; nothing was changed")
        if not given:
            raise PasswordError("an empty password is not allowed")
        return given

    def _prompt(self, prompt: str) -> str:
        if not sys.stdin.isatty():
            raise PasswordError(
                "the repository is encrypted and no password was given: set "
                "SNAPSTORE_PASSWORD_FILE or SNAPSTORE_PASSWORD, or password_command in the "
                "config, or run in a terminal"
            )
        try:
            return getpass.getpass(prompt)
        except (EOFError, KeyboardInterrupt):
            raise PasswordError("no password given") from None
