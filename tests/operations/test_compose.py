"""The container deployment: ``docker-compose.yml``, the ``Dockerfile`` and the collector config.

Nothing is started and no Docker engine is needed: the files are parsed and
held against the code they configure — the settings class and its production
refusals, the ``gateway`` CLI parser, the simulator's command line, and the
certificate files the rest adapter and the simulator open. Compose variables
are read with their defaults (``${NAME:-default}``), as on a machine that sets
none. Where the ``docker compose`` plugin exists, it validates the file too.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
import yaml
from sqlalchemy.engine import make_url

from adapters import simulator
from gateway import cli
from gateway.bootstrap import build_adapters
from gateway.policy.engine import PolicyEngine
from gateway.settings import REPOSITORY_ROOT, Settings
from gateway.web.rendering import KERN_PACKAGE
from tests.tls import load_certs_generator

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SECRETS_DIR = ROOT / "deploy" / "secrets"
REQUIRED_SERVICES = {"gateway", "postgres", "migrate", "simulator", "otel-collector", "jaeger"}
ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY", re.I)
SECRET_VALUE = re.compile(r"-----BEGIN|whsec_|\bsk_[A-Za-z0-9]")
# Compose interpolation: $$, ${NAME}, $NAME, ${NAME:-default}, ${NAME-default}, ${NAME:?error}.
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
_EXPRESSION = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<operator>:?[-?])(?P<default>.*))?")


# --------------------------------------------------------------------------- reading compose


def interpolate(value: str) -> str:
    """Compose's variable syntax, resolved as on a machine that sets no variables."""

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        expression = match.group("braced") or match.group("named") or ""
        parts = _EXPRESSION.fullmatch(expression)
        assert parts is not None, f"not a compose variable: ${{{expression}}}"
        if parts["operator"] and parts["operator"].endswith("?"):
            pytest.fail(f"${{{parts['name']}}} is required: compose cannot start without it")
        return parts["default"] or ""  # unset, so ${NAME} is empty and ${NAME:-x} is x

    return _VARIABLE.sub(resolve, value)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(str(item).partition("=")[::2] for item in raw)
    return {str(name): interpolate(str(value)) for name, value in raw.items()}


def secret_targets(service: Mapping[str, Any]) -> dict[str, str]:
    """Path inside the container -> name of the compose secret mounted there."""
    targets: dict[str, str] = {}
    for item in service.get("secrets") or []:
        if isinstance(item, str):
            name, target = item, item
        else:
            name, target = item["source"], item.get("target", item["source"])
        targets[target if target.startswith("/") else f"/run/secrets/{target}"] = name
    return targets


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/", "~"))


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    found: list[Mount] = []
    for item in service.get("volumes") or []:
        if isinstance(item, str):
            source, target, *options = item.split(":")
            found.append(Mount(source, target, "ro" in ",".join(options).split(",")))
        else:
            found.append(Mount(item["source"], item["target"], bool(item.get("read_only"))))
    return found


def command(service: Mapping[str, Any], key: str = "command") -> list[str]:
    value = service.get(key) or []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def healthcheck_code(service: Mapping[str, Any]) -> str:
    return " ".join(str(part) for part in service["healthcheck"]["test"])


def builds_our_image(service: Mapping[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    in_root = (ROOT / context).resolve() == ROOT
    return in_root and (ROOT / context / dockerfile).resolve() == DOCKERFILE


def runs_gateway_cli(service: Mapping[str, Any]) -> bool:
    return builds_our_image(service) and "entrypoint" not in service


def is_one_shot(service: Mapping[str, Any]) -> bool:
    return str(service.get("restart")) == "no"


def clear_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what the test sets counts, not the GATEWAY_ variables of this machine."""
    for variable in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(variable)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


# --------------------------------------------------------------------------- reading the Dockerfile


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def _logical_lines(text: str) -> Iterator[str]:
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # comments and blank lines end no instruction, even inside one
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield (pending + line).strip()
        pending = ""


def parse_dockerfile(text: str) -> list[Stage]:
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            parts = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: arguments[m[1] or m[2]], args).split()
            stages.append(Stage(name=parts[2] if len(parts) > 2 else None, base=parts[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


def _installs_editable(run: str) -> bool:
    return "pip install" in run and ("--editable ." in run or "-e ." in run)


def _installs_npm_packages(run: str) -> bool:
    return "npm ci" in run and "--omit=dev" in run


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return [str(part) for part in value]


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """``COPY [--flag=value ...] SOURCE... DEST`` -> flags, sources, destination."""
    tokens = shlex.split(args)
    flags = dict(t[2:].split("=", 1) for t in tokens if t.startswith("--"))
    paths = [t for t in tokens if not t.startswith("--")]
    return flags, paths[:-1], paths[-1]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile_env(stages: list[Stage]) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stages[-1].all("ENV"):
        for token in shlex.split(args):
            name, _, value = token.partition("=")
            values[name] = value
    return values


# --------------------------------------------------------------------------- services and health


def test_required_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES
    assert builds_our_image(services["gateway"])
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert any(str(port).endswith(":16686") for port in services["jaeger"].get("ports", []))


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]], stages: list[Stage]
) -> None:
    for name, service in services.items():
        if is_one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        if "test" in check:
            assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        else:  # timings only: the test is inherited from the image
            assert builds_our_image(service), f"{name} inherits a healthcheck it has no image for"
            assert stages[-1].last("HEALTHCHECK"), f"{name} relies on the Dockerfile's HEALTHCHECK"
    for name, service in services.items():
        for needed, condition in (service.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                assert services[needed].get("healthcheck", {}).get("disable") is not True, name
            if condition["condition"] == "service_completed_successfully":
                assert is_one_shot(services[needed]), f"{name} waits for {needed} to finish"


def test_dockerfile_is_multi_stage_non_root_and_checks_healthz(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    final = stages[-1]
    assert final.base == "python:3.11-slim"
    user = final.last("USER")
    assert user is not None, "the image must not run as root"
    assert user.split(":")[0] not in {"root", "0"}
    healthcheck = final.last("HEALTHCHECK")
    assert healthcheck is not None
    probe = exec_form(healthcheck.split(" CMD ", 1)[1])
    assert probe[:2] == ["python", "-c"]
    assert "urllib.request" in probe[2]  # no curl in a slim image
    assert "/healthz" in probe[2]
    for keyword in ("ENV", "ARG"):
        for args in (args for stage in stages for args in stage.all(keyword)):
            names = [token.split("=", 1)[0] for token in shlex.split(args)]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{keyword} {args}"


def test_image_has_the_project_policies_and_kern_assets(stages: list[Stage]) -> None:
    by_name = {stage.name: stage for stage in stages if stage.name}
    final = stages[-1]
    workdir = PurePosixPath(final.last("WORKDIR") or "/")

    def destination(dest: str) -> PurePosixPath:
        return PurePosixPath(dest) if dest.startswith("/") else workdir / dest

    copies = [copy_parts(args) for args in final.all("COPY")]
    # The project is installed editable in the build stage at the runtime's working
    # directory, because the gateway reads policies/ and node_modules/ beside its source.
    build = next(s for s in stages[:-1] if any(_installs_editable(a) for a in s.all("RUN")))
    assert build.last("WORKDIR") == str(workdir)
    assert any(f.get("from") == build.name and src == [str(workdir)] for f, src, _ in copies)
    # policies/ and openapi/ where the settings' defaults expect them.
    policies = Path(str(Settings.model_fields["policies_dir"].default))
    for folder in (policies.relative_to(REPOSITORY_ROOT).as_posix(), "openapi"):
        assert any(
            src == [folder] and destination(dest) == workdir / folder for f, src, dest in copies
        ), folder
    # The KERN assets from an `npm ci --omit=dev` stage, where gateway.web serves them.
    assets = next(s for s in stages[:-1] if any(_installs_npm_packages(a) for a in s.all("RUN")))
    assert assets.name in by_name
    kern = workdir / KERN_PACKAGE.parent.relative_to(REPOSITORY_ROOT).as_posix()
    assert any(
        f.get("from") == assets.name
        and src[0].endswith("node_modules/@kern-ux")
        and destination(dest) == kern
        for f, src, dest in copies
    )


# --------------------------------------------------------------------------- settings and CLI


def test_gateway_variables_are_settings_fields(
    services: dict[str, dict[str, Any]], dockerfile_env: dict[str, str]
) -> None:
    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    used = {name for name in dockerfile_env if name.startswith(ENV_PREFIX)}
    for service in services.values():
        used |= {name for name in environment(service) if name.startswith(ENV_PREFIX)}
    assert used, "no GATEWAY_ settings found"
    assert used <= known, f"not settings of gateway.settings.Settings: {sorted(used - known)}"


@pytest.mark.parametrize("name", ["gateway", "migrate", "keys"])
def test_compose_settings_pass_the_production_checks(
    name: str,
    services: dict[str, dict[str, Any]],
    dockerfile_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = services[name]
    clear_gateway_environment(monkeypatch)
    for variable, value in {**dockerfile_env, **environment(service)}.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()  # raises InsecureSettingError on anything fit for development only
    assert settings.is_production

    database = make_url(settings.resolved_database_url)
    postgres = environment(services["postgres"])
    assert database.get_backend_name() == "postgresql"
    assert database.host == "postgres"
    assert database.username == postgres["POSTGRES_USER"]
    assert database.database == postgres["POSTGRES_DB"]
    assert database.password is None, "the password comes from the libpq service file"
    assert environment(service)["PGSERVICEFILE"] in secret_targets(service)

    if name == "migrate":
        return
    volumes = {m.target: m for m in mounts(service)}
    assert str(settings.resolved_keys_dir) in volumes, "the keys are a volume shared by replicas"
    assert str(settings.data_dir) in volumes
    assert volumes[str(settings.resolved_keys_dir)].read_only is (name == "gateway")
    assert not volumes[str(settings.resolved_keys_dir)].is_bind

    if name == "gateway":
        assert any(str(p).endswith(f":{settings.port}") for p in service.get("ports", []))
        assert settings.otlp_endpoint is not None
        otlp = urlsplit(settings.otlp_endpoint)
        assert otlp.hostname in services
        assert otlp.path == "/v1/traces"
        assert settings.simulator_url is not None
        assert urlsplit(settings.simulator_url).hostname in services


@pytest.mark.parametrize(
    ("name", "handler"),
    [("gateway", cli.cmd_serve), ("migrate", cli.cmd_db_upgrade), ("keys", cli.cmd_keys_rotate)],
)
def test_commands_are_gateway_cli_commands(
    name: str, handler: object, services: dict[str, dict[str, Any]]
) -> None:
    service = services[name]
    assert runs_gateway_cli(service)
    args = cli._parser().parse_args(command(service))  # exits 2 on an unknown command
    assert args.func is handler


def test_dockerfile_command_is_gateway_serve(stages: list[Stage]) -> None:
    entrypoint = exec_form(stages[-1].last("ENTRYPOINT") or "[]")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert entrypoint == ["gateway"]
    assert scripts["scripts"]["gateway"] == "gateway.cli:main"
    args = cli._parser().parse_args(exec_form(stages[-1].last("CMD") or "[]"))
    assert args.func is cli.cmd_serve


def test_replicas_share_one_database(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["gateway"]
    assert "container_name" not in gateway, "a fixed name allows one replica only"
    assert int(interpolate(str(gateway["deploy"]["replicas"]))) >= 1
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


# --------------------------------------------------------------------------- mutual TLS


def test_simulator_command_finds_every_file_it_needs(
    services: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = services["simulator"]
    assert builds_our_image(service)
    assert command(service, "entrypoint") == ["python", "-m", "adapters.simulator"]
    args = command(service)
    certs = PurePosixPath(args[args.index("--certs") + 1])
    for target in secret_targets(service):  # only what compose mounts exists
        if PurePosixPath(target).parent == certs:
            (tmp_path / PurePosixPath(target).name).write_text("placeholder", encoding="utf-8")
    args[args.index("--certs") + 1] = str(tmp_path)

    def fake_context(*, cert: Path, key: Path, ca_bundle: Path) -> ssl.SSLContext:
        assert [path for path in (cert, key, ca_bundle) if not path.is_file()] == []
        return ssl.create_default_context()

    served: dict[str, Any] = {}
    monkeypatch.setattr(simulator, "client_ssl_context", fake_context)
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: served.update(options))
    assert simulator.main(args) == 0  # exits 2 naming any certificate file compose does not mount

    port = urlsplit(environment(services["gateway"])["GATEWAY_SIMULATOR_URL"]).port
    assert served["host"] == "0.0.0.0"  # noqa: S104 - reachable from the gateway's container
    assert served["port"] == port
    assert served["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert f"https://localhost:{port}/health" in healthcheck_code(service)
    for option in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs"):
        assert Path(served[option]).is_file()


def test_gateway_mounts_the_certificates_of_its_rest_adapter(
    services: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = services["gateway"]
    certs_dir = PurePosixPath(environment(gateway)["GATEWAY_ADAPTER_CERTS_DIR"])
    generated = load_certs_generator().generate(tmp_path / "pki")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for target in secret_targets(gateway):
        if PurePosixPath(target).parent == certs_dir:
            name = PurePosixPath(target).name
            assert (generated.out_dir / name).is_file(), f"certs-dev/generate.py makes no {name}"
            shutil.copy(generated.out_dir / name, mounted / name)
    clear_gateway_environment(monkeypatch)
    settings = Settings(
        adapter_certs_dir=mounted, simulator_url=environment(gateway)["GATEWAY_SIMULATOR_URL"]
    )
    registry = build_adapters(settings, PolicyEngine.load(settings.policies_dir))
    try:  # building a rest adapter loads its client certificate, key and CA
        assert [key for key, adapter in registry.items() if adapter.kind == "rest"]
    finally:
        registry.close()


# --------------------------------------------------------------------------- secrets


def test_no_inline_secrets(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        targets = secret_targets(service)
        for variable, value in environment(service).items():
            where = f"{name}: {variable}"
            if SECRET_NAME.search(variable):
                assert variable.endswith("_FILE"), f"{where} must name a file, not hold the secret"
            if value.startswith("/run/secrets/"):
                assert any(t == value or t.startswith(value.rstrip("/") + "/") for t in targets), (
                    f"{where} points at {value}, which is no secret of {name}"
                )
            if "://" in value:
                assert urlsplit(value).password is None, f"{where} has a password in its URL"
            assert not SECRET_VALUE.search(value), f"{where} looks like a key or secret"
    for secret_name, definition in compose.get("secrets", {}).items():
        assert set(definition) == {"file"}, f"secret {secret_name} must come from a file"
        path = (ROOT / definition["file"]).resolve()
        assert path.is_relative_to(SECRETS_DIR), f"secret {secret_name} outside deploy/secrets"


def test_secret_files_are_git_ignored(compose: dict[str, Any]) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    probe = [git, "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        pytest.skip("not a git work tree")

    def ignored(path: Path) -> bool:
        done = subprocess.run([git, "-C", str(ROOT), "check-ignore", "-q", str(path)], check=False)
        assert done.returncode in {0, 1}
        return done.returncode == 0

    for definition in compose["secrets"].values():
        assert ignored(ROOT / definition["file"]), definition["file"]
    assert (SECRETS_DIR / "README.md").is_file()
    assert not ignored(SECRETS_DIR / "README.md")
    assert not ignored(SECRETS_DIR / ".gitignore")


def _dockerignored(patterns: list[str], path: str) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` out of the build context (last match wins)."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # the path and its parents
    excluded = False
    for raw in patterns:
        pattern = raw.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            excluded = not raw.startswith("!")
    return excluded


def test_build_context_holds_no_secrets(stages: list[Stage]) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for secret in (
        "deploy/secrets/postgres_password",
        "deploy/secrets/mtls/client-gateway-client-key.pem",
        "certs-dev/ca-key.pem",
        "var/keys/token_1.jwk.json",
        "var/gateway.db",
        ".venv/pyvenv.cfg",
        ".git/config",
        "node_modules/@kern-ux/native/package.json",
        "gateway/stray-key.pem",
    ):
        assert _dockerignored(patterns, secret), secret
    for stage in stages:
        for flags, sources, _ in (copy_parts(args) for args in stage.all("COPY")):
            if "from" in flags:
                continue
            for source in sources:
                assert (ROOT / source).exists(), source
                files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*")
                for path in files:
                    relative = path.relative_to(ROOT).as_posix()
                    if path.is_file() and "__pycache__" not in path.parts:
                        assert not _dockerignored(patterns, relative), f"{relative} is needed"


# --------------------------------------------------------------------------- files and tracing


def test_referenced_files_exist(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            assert context.is_dir(), name
            if isinstance(build, dict):
                assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for mount in mounts(service):
            if mount.is_bind:
                assert (ROOT / mount.source).exists(), f"{name}: {mount.source}"
            else:
                assert mount.source in (compose.get("volumes") or {}), f"{name}: {mount.source}"
        for item in service.get("configs") or []:
            assert (item if isinstance(item, str) else item["source"]) in compose["configs"]
        for item in service.get("secrets") or []:
            assert (item if isinstance(item, str) else item["source"]) in compose["secrets"]
    for definition in (compose.get("configs") or {}).values():
        assert (ROOT / definition["file"]).is_file(), definition["file"]


def _component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_collector_sends_gateway_traces_to_jaeger(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    collector = services["otel-collector"]
    (mounted,) = collector["configs"]
    config_path = [a.split("=", 1)[1] for a in command(collector) if a.startswith("--config=")]
    assert config_path == [mounted["target"]]
    config = yaml.safe_load((ROOT / compose["configs"][mounted["source"]]["file"]).read_text())

    pipelines = config["service"]["pipelines"]
    traces = [p for pid, p in pipelines.items() if _component_type(pid) == "traces"]
    assert traces, "no traces pipeline"
    for pipeline in traces:
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{kind[:-1]} {component} is not defined"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]

    receivers = [r for p in traces for r in p["receivers"] if _component_type(r) == "otlp"]
    assert receivers, "traces do not come from an otlp receiver"
    http_endpoint = config["receivers"][receivers[0]]["protocols"]["http"]["endpoint"]
    gateway_endpoint = urlsplit(environment(services["gateway"])["GATEWAY_OTLP_ENDPOINT"])
    assert gateway_endpoint.hostname == "otel-collector"
    assert http_endpoint.rsplit(":", 1)[1] == str(gateway_endpoint.port)

    otlp_exporters = {"otlp", "otlp_grpc"}  # otlp_grpc is the name since collector 0.144
    exporters = [e for p in traces for e in p["exporters"] if _component_type(e) in otlp_exporters]
    assert exporters, "traces are not exported over OTLP"
    jaeger = config["exporters"][exporters[0]]["endpoint"]
    assert "jaeger" in services
    assert jaeger == "jaeger:4317", "Jaeger's OTLP/gRPC port in the compose network"


# --------------------------------------------------------------------------- docker compose itself


def _docker_compose() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return docker if probe.returncode == 0 else None


@pytest.mark.skipif(_docker_compose() is None, reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    docker = _docker_compose()
    assert docker is not None
    # A copy with placeholder secrets, so the check does not depend on this machine's secrets.
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore", "deploy/otel-collector.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    for definition in document["secrets"].values():
        (tmp_path / definition["file"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / definition["file"]).write_text("placeholder", encoding="utf-8")
    done = subprocess.run(
        [
            docker,
            "compose",
            "--project-directory",
            str(tmp_path),
            "--file",
            str(tmp_path / "docker-compose.yml"),
            "--profile",
            "setup",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
