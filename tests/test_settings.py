"""Settings precedence: defaults < TOML file < environment < flags, as resolved by
``load_settings`` and as seen through the CLI (which repository and bulk roots get used)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapstore.backend import S3Options
from snapstore.base.errors import ConfigError
from snapstore.config.settings import DEFAULT_EXCLUDES, load_settings
from tests.helpers import Workspace, error_line, ok


def toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_follow_the_seed(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.repository == "/bulk-store/metis/snapshots"
    assert s.bulk == ("/bulk-store/metis/experiments",)
    assert s.prefix == "metis"
    assert s.arangodb.database == "arxiv_datastore"
    assert s.exclude == DEFAULT_EXCLUDES
    assert s.config_file is None


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = toml(
        tmp_path / "my.toml",
        'repository = "/from/file"\nbulk = ["/f1", "/f2"]\nprefix = "filep"\nlock_wait = 5\n'
        '[arangodb]\nurl = "http://file:8529"\ndatabase = "filedb"\n',
    )
    only_file = load_settings(str(cfg), env={}, cwd=tmp_path)
    assert only_file.repository == "/from/file" and only_file.bulk == ("/f1", "/f2")
    assert only_file.prefix == "filep" and only_file.lock_wait == 5.0
    assert only_file.arangodb.url == "http://file:8529"
    assert only_file.config_file == str(cfg)

    env = {
        "SNAPSTORE_REPO": "/from/env",
        "SNAPSTORE_BULK": "/e1:/e2::/e3",
        "SNAPSTORE_ARANGO_DB": "envdb",
    }
    with_env = load_settings(str(cfg), env=env, cwd=tmp_path)
    assert with_env.repository == "/from/env"
    assert with_env.bulk == ("/e1", "/e2", "/e3")
    assert with_env.prefix == "filep", "keys the environment does not set come from the file"
    assert with_env.arangodb.database == "envdb"
    assert with_env.arangodb.url == "http://file:8529"

    flags = {"repository": "/from/flag", "bulk": ("/b1", "/b2"), "prefix": None}
    with_flags = load_settings(str(cfg), overrides=flags, env=env, cwd=tmp_path)
    assert with_flags.repository == "/from/flag"
    assert with_flags.bulk == ("/b1", "/b2")
    assert with_flags.prefix == "filep", "a flag that was not given overrides nothing"


def test_which_file_is_read(tmp_path: Path) -> None:
    toml(tmp_path / "snapstore.toml", 'repository = "/cwd/file"\n')
    named = toml(tmp_path / "named.toml", 'repository = "/env/file"\n')
    flag = toml(tmp_path / "flag.toml", 'repository = "/flag/file"\n')
    assert load_settings(env={}, cwd=tmp_path).repository == "/cwd/file"
    env = {"SNAPSTORE_CONFIG": str(named)}
    assert load_settings(env=env, cwd=tmp_path).repository == "/env/file"
    assert load_settings(str(flag), env=env, cwd=tmp_path).repository == "/flag/file"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("repository = [unclosed", "not valid TOML"),
        ('colour = "blue"', "unknown key 'colour'"),
        ('[arangodb]\nhost = "x"', "unknown key arangodb.host"),
        ('[arangodb]\npassword = "hunter2"', "password"),
        ("bulk = 3", "string or a list of strings"),
        ('lock_wait = "soon"', "lock_wait must be a number of seconds"),
        ('[arangodb]\nauth = "kerberos"', "'basic' or 'jwt'"),
        ("arangodb = 1", "must be a table"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, words: str) -> None:
    cfg = toml(tmp_path / "bad.toml", text + "\n")
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")) as info:
        load_settings(str(cfg), env={}, cwd=tmp_path)
    assert "hunter2" not in str(info.value)


def test_password_never_from_a_flag_or_the_file(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.arangodb.password({"SNAPSTORE_ARANGO_PASSWORD": "from-env"}) == "from-env"
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    assert s.arangodb.password({"SNAPSTORE_ARANGO_PASSWORD_FILE": str(pw)}) == "from-file"
    with pytest.raises(ConfigError, match="password file"):
        s.arangodb.password({"SNAPSTORE_ARANGO_PASSWORD_FILE": str(tmp_path / "missing")})


def repo_of(ws: Workspace, *argv: str, env: dict[str, str] | None = None) -> set[str]:
    """Create a snapshot through the CLI; return the bulk roots it captured."""
    r = ws.invoke(*argv, "create", "where am i", "--json", env=env)
    assert r.exit_code == 0, r.output
    return set(json.loads(r.stdout)["bulk_roots"])


def test_cli_precedence(ws: Workspace, tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("root_a", "root_b", "root_c"))
    for d in (a, b, c):
        d.mkdir()
        (d / "f").write_text(d.name)
    repo_file, repo_env, repo_flag = (tmp_path / n for n in ("repo_file", "repo_env", "repo_flag"))
    toml(ws.root / "snapstore.toml", f'repository = "{repo_file}"\nbulk = ["{a}"]\n')
    no_env = {"SNAPSTORE_REPO": None, "SNAPSTORE_BULK": None}  # type: ignore[dict-item]

    assert repo_of(ws, env=no_env) == {str(a)}  # ./snapstore.toml in the working directory
    assert (repo_file / "config").is_file()

    env = {"SNAPSTORE_REPO": str(repo_env), "SNAPSTORE_BULK": f"{a}:{b}"}
    assert repo_of(ws, env=env) == {str(a), str(b)}
    assert (repo_env / "config").is_file()

    assert repo_of(ws, "--repo", str(repo_flag), "--bulk", str(c), "--bulk", str(b), env=env) == {
        str(c),
        str(b),
    }
    assert (repo_flag / "config").is_file()

    other = toml(tmp_path / "other.toml", f'repository = "{repo_flag}"\nbulk = ["{c}"]\n')
    assert repo_of(ws, "--config", str(other), env=no_env) == {str(c)}
    assert json.loads(ws.invoke("--repo", str(repo_flag), "list", "--json").stdout)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("repository = 5", "repository must be a string, not an integer (5)"),
        ("prefix = ['a']", "prefix must be a string, not a list"),
        ('auto_cleanup = "false"', "auto_cleanup must be true or false"),
        ("auto_cleanup = 0", "auto_cleanup must be true or false"),
        ("lock_wait = nan", "lock_wait must be a finite number of seconds"),
        ("lock_wait = -1", "lock_wait must be a finite number of seconds"),
        ("lock_wait = true", "lock_wait must be a number of seconds"),
        ("cache_dir = 1.5", "cache_dir must be a string"),
        ("exclude = [1, 2]", "exclude must be a string or a list of strings"),
        ('project_dir = "a\\u0000b"', "project_dir must not contain a NUL"),
        ('permissions = "world"', "permissions must be 'private' or 'group'"),
        ('[arangodb]\nverify_tls = "no"', "arangodb.verify_tls must be true or false"),
        ("[arangodb]\ntimeout = 0", "arangodb.timeout must be a finite number of seconds"),
        ("[arangodb]\nurl = 8529", "arangodb.url must be a string"),
        ("[s3]\nmax_attempts = 0", "s3.max_attempts must be a whole number of at least 1"),
        ('[s3]\nread_timeout = "slow"', "s3.read_timeout must be a number of seconds"),
        ('[s3]\nbucket = "b"', "unknown key s3.bucket"),
        ("s3 = 1", "[s3] must be a table"),
        ("retention = 1", "[retention] must be a table"),
        ("[retention]\nkeep_last = -1", "keep_last"),
    ],
)
def test_every_key_has_its_type_checked(tmp_path: Path, text: str, words: str) -> None:
    cfg = toml(tmp_path / "bad.toml", text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(cfg), env={}, cwd=tmp_path)
    assert words in str(info.value)
    assert str(cfg) in str(info.value), "the message names the file"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a text file (not UTF-8)"),
        (b"\x00\x01\x02repository", "is not valid TOML"),
        (b'repository = 5\nbulk = ["/b"]\n', "repository must be a string"),
        (b"prefix = ['a']\n", "prefix must be a string"),
    ],
)
def test_bad_config_through_the_real_cli(ws: Workspace, content: bytes, words: str) -> None:
    cfg = ws.root / "bad.toml"
    cfg.write_bytes(content)
    r = ws.run("--config", str(cfg), "list")
    assert r.returncode == 2, r.stderr
    error_line(r.stderr, words, str(cfg))


def test_auto_cleanup_false_in_toml_is_a_real_false(tmp_path: Path) -> None:
    cfg = toml(tmp_path / "c.toml", "auto_cleanup = false\n")
    assert load_settings(str(cfg), env={}, cwd=tmp_path).auto_cleanup is False


def test_user_config_folder_is_read_last(ws: Workspace, tmp_path: Path) -> None:
    """No --config, no $SNAPSTORE_CONFIG, no ./snapstore.toml: the user's config folder
    (platformdirs.user_config_dir, $XDG_CONFIG_HOME/snapstore on Linux) is read."""
    user_repo, project_repo = tmp_path / "user-repo", tmp_path / "project-repo"
    ws.manager(repository=str(user_repo)).create("in the user repo")
    ws.manager(repository=str(project_repo)).create("in the project repo")
    xdg = tmp_path / "xdg"
    (xdg / "snapstore").mkdir(parents=True)
    toml(xdg / "snapstore" / "config.toml", f'repository = "{user_repo}"\n')
    env = ws.env(XDG_CONFIG_HOME=str(xdg))
    del env["SNAPSTORE_REPO"]

    def listed() -> list[str]:
        # Read-only on purpose: a broken lookup falls back to the default repository path,
        # which must never be created by a test.
        return [d["description"] for d in json.loads(ok(ws.run("list", "--json", env=env)).stdout)]

    assert listed() == ["in the user repo"]
    toml(ws.root / "snapstore.toml", f'repository = "{project_repo}"\n')
    assert listed() == ["in the project repo"], "./snapstore.toml comes before the user file"


def test_s3_settings_from_toml_and_environment(tmp_path: Path) -> None:
    cfg = toml(
        tmp_path / "s3.toml",
        '[s3]\nendpoint = "http://127.0.0.1:9"\nregion = "eu-west-1"\nmax_attempts = 2\n'
        "connect_timeout = 1.5\n",
    )
    s = load_settings(str(cfg), env={}, cwd=tmp_path)
    assert s.s3 == S3Options(
        endpoint="http://127.0.0.1:9", region="eu-west-1", max_attempts=2, connect_timeout=1.5
    )
    env = {"SNAPSTORE_S3_ENDPOINT": "http://127.0.0.1:10", "SNAPSTORE_S3_READ_TIMEOUT": "7"}
    s = load_settings(str(cfg), env=env, cwd=tmp_path)
    assert s.s3.endpoint == "http://127.0.0.1:10", "the environment overrides the file"
    assert s.s3.region == "eu-west-1" and s.s3.read_timeout == 7.0
    with pytest.raises(ConfigError, match="SNAPSTORE_S3_READ_TIMEOUT"):
        load_settings(str(cfg), env={"SNAPSTORE_S3_READ_TIMEOUT": "-1"}, cwd=tmp_path)
