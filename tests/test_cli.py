"""The operator CLI: one JSON document with --json, exit 2 and one line for bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import Settings
from tests.support import ClientKey


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GATEWAY_ENV", "test")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "WARNING")
    return settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_organisation_user_and_client(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "orgs",
        "add",
        "--kind",
        "municipality",
        "--name",
        "Stadt Güglingen",
        "--key",
        "08125039",
        "--json",
    )
    assert code == 0
    org = json.loads(out)
    assert org["name"] == "Stadt Güglingen"
    assert org["key"] == "08125039"

    code, out, _ = run(
        capsys,
        "users",
        "add",
        "--org",
        org["id"],
        "--role",
        "integration_manager",
        "--name",
        "Erika Muster",
        "--email",
        "Erika@Gueglingen.example",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["email"] == "erika@gueglingen.example"

    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(ClientKey().public_jwks()))
    code, out, _ = run(
        capsys,
        "clients",
        "add",
        "--org",
        org["id"],
        "--name",
        "Fallsystem",
        "--jwks",
        str(jwks_file),
        "--scope",
        "queries:ask consents:read",
        "--json",
    )
    assert code == 0
    client = json.loads(out)
    assert client["client_id"].startswith("cli_")
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    assert client["scope"] == "consents:read queries:ask"

    for command in (("orgs", "list"), ("users", "list"), ("clients", "list")):
        code, out, _ = run(capsys, *command, "--json")
        assert code == 0
        assert isinstance(json.loads(out), list)


@pytest.mark.parametrize(
    "args",
    [
        ("orgs", "add", "--kind", "castle", "--name", "X"),
        ("orgs", "add", "--name", "no kind"),
        (
            "users",
            "add",
            "--org",
            "org_missing",
            "--role",
            "dpo",
            "--name",
            "A",
            "--email",
            "a@b.example",
        ),
        ("clients", "add", "--org", "org_missing", "--name", "A", "--scope", "queries:ask"),
        (
            "clients",
            "add",
            "--org",
            "x",
            "--name",
            "A",
            "--jwks",
            "/does/not/exist",
            "--scope",
            "queries:ask",
        ),
        ("nonsense",),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    try:
        code, out, err = run(capsys, *args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
        out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_sql_looking_names_are_stored_as_text(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "Robert'); DROP TABLE organisations;--"
    code, out, _ = run(capsys, "orgs", "add", "--kind", "municipality", "--name", name, "--json")
    assert code == 0
    code, out, _ = run(capsys, "orgs", "list", "--json")
    assert [o["name"] for o in json.loads(out)] == [name]


def test_demo_is_idempotent_and_keys_rotate(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first, _ = run(capsys, "demo", "--json")
    assert code == 0
    code, second, _ = run(capsys, "demo", "--json")
    assert json.loads(first) == json.loads(second)
    seeded = json.loads(first)
    assert {o["name"] for o in seeded["organisations"].values()} >= {
        "Stadt Brackenheim",
        "Landratsamt Heilbronn",
        "Jobcenter Landkreis Heilbronn",
    }
    assert set(seeded["users"]) >= {"integration_manager", "jobcenter_staff", "dpo"}
    for demo_client in seeded["clients"].values():
        assert Path(demo_client["private_key"]).stat().st_mode & 0o777 == 0o600

    code, out, _ = run(capsys, "keys", "rotate", "--purpose", "token", "--json")
    assert code == 0
    assert [k["purpose"] for k in json.loads(out)["keys"]] == ["token"]

    code, out, _ = run(capsys, "audit", "verify", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    code, out, _ = run(capsys, "audit", "verify", "--workers", "2", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    assert json.loads(out)["events"] > 0


def test_audit_export_is_verifiable_offline(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "demo", "--json")
    out_dir = tmp_path / "export"
    code, out, err = run(capsys, "audit", "export", "--out", str(out_dir), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["events"] >= 1
    readme_script = _readme_verifier()
    namespace: dict[str, object] = {"__name__": "verifier"}
    import sys

    argv = sys.argv
    sys.argv = ["verify", str(out_dir)]
    try:
        exec(compile(readme_script, "README verifier", "exec"), namespace)  # noqa: S102 - the README's own script
    finally:
        sys.argv = argv
    assert "export verified" in capsys.readouterr().out


def _readme_verifier() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n") + len("```python\n")
    return readme[start : readme.index("```", start)]
