"""Static checks of the Docker deployment (no Docker engine here): docker-compose.yaml, Dockerfile,
.env.example and .dockerignore, checked against the installed Airflow 3.3 (its CLI parser and its
configuration reference) and against requirements*.txt / constraints-3.X.txt."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT / "docker-compose.yaml"
DOCKERFILE = PROJECT / "Dockerfile"
ENV_EXAMPLE = PROJECT / ".env.example"
DOCKERIGNORE = PROJECT / ".dockerignore"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
LONG_RUNNING = {*AIRFLOW_SERVICES, "postgres", "redis", "metastudio-sandbox"}
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; "$${...}" is a literal "$" for the container.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
CONFIG_ENV = re.compile(r"^AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), line
            values[name] = value[1:-1] if value[:1] == value[-1:] == "'" and len(value) > 1 else value
    return values


@pytest.fixture(scope="module")
def airflow_parser():  # type: ignore[no-untyped-def]
    from airflow.cli.cli_parser import get_parser

    return get_parser()


def parse_airflow(parser, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Parse a command line with Airflow's own CLI parser: unknown commands or options fail."""
    try:
        namespace = parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`airflow {' '.join(argv)}` is not a valid Airflow {_airflow_version()} command ({exc.code})")
    assert callable(namespace.func)


def _airflow_version() -> str:
    from airflow import __version__

    return __version__


def command_words(line: str, values: dict[str, str] | None = None) -> list[str]:
    """The words of one shell command, up to the first redirection, pipe or list operator.

    Container-side variables (``$${NAME}`` in the compose file) are replaced from ``values``.
    """
    lexer = shlex.shlex(line.replace("$${", "${"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for token in lexer:
        if set(token) <= set("();<>|&"):
            break
        words.append(token)
    if words and words[-1].isdigit() and line.split(words[-1], 1)[-1].lstrip().startswith(">"):
        words.pop()  # "2>&1": the fd number is not an argument
    values = values or {}
    return [re.sub(r"\$\{([A-Za-z_]+)\}", lambda m: values.get(m.group(1), "placeholder"), word) for word in words]


def airflow_lines(script: str, values: dict[str, str]) -> list[list[str]]:
    """Every `airflow ...` command in a shell script (also through /entrypoint)."""
    commands = []
    for raw in script.splitlines():
        words = command_words(raw.strip(), values) if raw.strip() and not raw.strip().startswith("#") else []
        if words[:1] == ["/entrypoint"]:
            words = words[1:]
        if words[:1] == ["airflow"]:
            commands.append(words[1:])
    return commands


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


# --- the compose file ----------------------------------------------------------------------------


def test_compose_file_is_yaml_with_the_expected_services(services: dict[str, Any]) -> None:
    expected = {*AIRFLOW_SERVICES, "postgres", "redis", "airflow-init", "metastudio-sandbox"}
    assert expected <= set(services)
    assert set(services) - expected <= {"airflow-cli", "flower"}  # optional, behind profiles as upstream
    for name in ("airflow-cli", "flower"):
        assert services[name].get("profiles"), f"{name} must stay behind a profile"


def test_airflow_services_run_the_airflow_3_commands(services: dict[str, Any], airflow_parser) -> None:  # type: ignore[no-untyped-def]
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert "entrypoint" not in service, f"{name} must use the image's entrypoint"
        words = shlex.split(service["command"]) if isinstance(service["command"], str) else service["command"]
        assert words == command.split(), name
        parse_airflow(airflow_parser, words)


def test_no_removed_airflow_2_commands(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for removed in ("webserver", "airflow db init", "airflow db upgrade", "users create"):
        assert removed not in text


def test_healthcheck_commands_exist(services: dict[str, Any], airflow_parser) -> None:  # type: ignore[no-untyped-def]
    import importlib

    for name in sorted(LONG_RUNNING):
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        kind, *rest = test
        assert kind in ("CMD", "CMD-SHELL"), name
        line = rest[0] if kind == "CMD-SHELL" else shlex.join(rest)
        for alternative in line.split("||"):
            words = command_words(alternative.strip())
            if words[0] == "airflow":
                parse_airflow(airflow_parser, words[1:])
            elif words[0] == "celery":
                module, _, attribute = words[words.index("--app") + 1].rpartition(".")
                if module == "airflow.providers.celery.executors.celery_executor":  # the other is the 2.x path
                    assert hasattr(importlib.import_module(module), attribute)
            else:
                assert words[0] in ("curl", "pg_isready", "redis-cli"), f"{name}: {line}"


def test_healthchecks_probe_the_right_ports(services: dict[str, Any]) -> None:
    from airflow.configuration import conf

    scheduler_port = conf.configuration_description["scheduler"]["options"]["scheduler_health_check_server_port"]
    assert f":{scheduler_port['default']}/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "/api/v2/" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    sandbox = services["metastudio-sandbox"]
    port = sandbox["command"][sandbox["command"].index("--port") + 1]
    assert f"localhost:{port}/_sandbox/health" in " ".join(sandbox["healthcheck"]["test"])


def test_airflow_init_script_uses_valid_commands(  # type: ignore[no-untyped-def]
    services: dict[str, Any], env_example: dict[str, str], airflow_parser
) -> None:
    init = services["airflow-init"]
    assert init["entrypoint"] == "/bin/bash" and init["command"][0] == "-c"
    script = init["command"][1]
    filled = {**env_example, **{name: "generated" for name, value in env_example.items() if not value}}
    values = {name: interpolate(value, filled) for name, value in environment_of(init).items()}
    commands = airflow_lines(script, values)
    for words in commands:
        parse_airflow(airflow_parser, words)
    verbs = [" ".join(words[:2]) for words in commands]
    for needed in ("db migrate", "connections add", "pools set", "variables set"):
        assert needed in verbs, f"airflow-init does not run `airflow {needed}`"
    registered = {words[2] for words in commands if words[:2] in (["connections", "add"], ["variables", "set"])}
    assert registered == {
        "metastudio_default",
        "metastudio_alerts",
        "metastudio_corrections_path",
        "metastudio_report_dir",
    }
    assert any(words[:3] == ["pools", "set", "metastudio_api"] for words in commands)
    for name, service in services.items():  # the image has everything: nothing is pip-installed at start-up
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in environment_of(service), name


def test_airflow_init_script_is_valid_bash(services: dict[str, Any], tmp_path: Path) -> None:
    import subprocess

    script = services["airflow-init"]["command"][1].replace("$$", "$")
    (tmp_path / "init.sh").write_text(script)
    done = subprocess.run(["bash", "-n", str(tmp_path / "init.sh")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_sandbox_service_runs_the_sandbox_cli(services: dict[str, Any], env_example: dict[str, str]) -> None:
    from metastudio_sandbox.__main__ import parse_args

    sandbox = services["metastudio-sandbox"]
    assert sandbox["entrypoint"] == ["python", "-m", "metastudio_sandbox"]
    assert sandbox["image"] == services["airflow-apiserver"]["image"] and "build" in sandbox  # the same image
    argv = [interpolate(str(word), env_example) for word in sandbox["command"]]
    args = parse_args(argv)
    assert args.host == "0.0.0.0"
    assert args.public_url == f"http://metastudio-sandbox:{args.port}"
    assert str(args.scenario) == "/opt/airflow/include/demo/scenario.yaml"
    assert (PROJECT / "include" / "demo" / "scenario.yaml").is_file()
    data_mount = {volume.split(":")[1]: volume.split(":")[0] for volume in sandbox["volumes"]}
    assert data_mount[str(args.data_dir)] == "metastudio-sandbox-data"  # state in a named volume


def test_every_airflow_config_env_var_names_a_known_option(services: dict[str, Any]) -> None:
    from airflow.configuration import conf

    description = conf.configuration_description  # core + installed providers (celery included)
    checked = 0
    for name, service in services.items():
        for key in environment_of(service):
            match = CONFIG_ENV.match(key)
            if not match:
                continue
            section, option = match.group(1).lower(), match.group(2).lower()
            option = (
                re.sub(r"_(cmd|secret)$", "", option)
                if option not in description.get(section, {}).get("options", {})
                else option
            )
            assert section in description, f"{name}: {key}: no [{section}] section in Airflow {_airflow_version()}"
            assert option in description[section]["options"], f"{name}: {key}: no [{section}] {option}"
            checked += 1
    assert checked > 20


def test_the_distributed_test_uses_known_config_options_too() -> None:
    from airflow.configuration import conf

    from tests.deployment.test_distributed_run import _airflow_env

    description = conf.configuration_description
    env = _airflow_env(Path("/tmp/home"), "db", 8080, "queue")
    for key in env:
        if match := CONFIG_ENV.match(key):
            assert match.group(2).lower() in description[match.group(1).lower()]["options"], key


def test_airflow_settings_match_the_official_topology(services: dict[str, Any]) -> None:
    env = environment_of(services["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("@")[1].startswith("postgres/")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:@redis:6379/")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "AIRFLOW__CORE__FERNET_KEY" in env and "AIRFLOW__API_AUTH__JWT_SECRET" in env
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert environment_of(services[name]) | env == environment_of(services[name]), (
            f"{name} must share the common Airflow settings"
        )
    import importlib

    module, _, cls = env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert hasattr(importlib.import_module(module), cls)


def test_volumes_mount_the_project_folders(compose: dict[str, Any], services: dict[str, Any]) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        mounts = {}
        for volume in services[name]["volumes"]:
            source, target = interpolate(volume, {}).split(":")[:2]
            mounts[target] = source
        for folder in ("dags", "plugins", "include", "logs", "config"):
            assert mounts[f"/opt/airflow/{folder}"] == f"./{folder}", name
        assert "/opt/airflow/metastudio_reports" in mounts, name  # shared by every worker
    for folder in ("dags", "plugins", "include"):
        assert (PROJECT / folder).is_dir()
    named = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/", "$"))
    }
    assert named == set(compose["volumes"]) == {"postgres-db-volume", "metastudio-sandbox-data"}


def test_depends_on_conditions(services: dict[str, Any]) -> None:
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert spec["condition"] in valid, f"{name} -> {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s missing healthcheck"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_airflow_services_use_one_image_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "airflow-init", "metastudio-sandbox")}
    assert len(images) == 1
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert services[name]["build"] == ".", name
        assert services[name]["user"] == ("0:0" if name == "airflow-init" else "${AIRFLOW_UID:-50000}:0")


# --- .env.example --------------------------------------------------------------------------------


def compose_variables() -> dict[str, set[str]]:
    """Every ${VAR} the compose file interpolates, with the kinds of default it declares."""
    found: dict[str, set[str]] = {}
    for match in VARIABLE.finditer(COMPOSE.read_text()):
        found.setdefault(match.group(1), set()).add(match.group(2) or "")
    return found


def interpolate(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3)
        value = values.get(name)
        if operator in (":-", ":?") and not value:
            assert operator == ":-", f"{name} is required"
            return default
        return value if value is not None else (default or "")

    return VARIABLE.sub(replace, text).replace("$$", "$")


def test_env_example_documents_every_compose_variable(env_example: dict[str, str]) -> None:
    used = compose_variables()
    assert set(used) - set(env_example) == set(), "variables used by docker-compose.yaml but not in .env.example"
    assert set(env_example) - set(used) == set(), "variables in .env.example that docker-compose.yaml never uses"
    text = ENV_EXAMPLE.read_text()
    for name in env_example:  # each documented: a comment right above it or a few lines above
        before = text[: text.index(f"\n{name}=")].splitlines()[-6:]
        assert any(line.startswith("#") for line in before), f"{name} has no comment"


def test_required_secrets_are_not_shipped(env_example: dict[str, str]) -> None:
    required = {name for name, kinds in compose_variables().items() if ":?" in kinds}
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"} <= required
    for name in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):
        assert env_example[name] == "", f"{name} must be generated per deployment, not shipped"


def test_the_example_connection_points_at_the_sandbox(services: dict[str, Any], env_example: dict[str, str]) -> None:
    from metastudio_sandbox.__main__ import parse_args

    connection = json.loads(env_example["METASTUDIO_CONN_JSON"])
    sandbox = parse_args([interpolate(str(word), env_example) for word in services["metastudio-sandbox"]["command"]])
    assert connection["conn_type"] == "metastudio"
    assert connection["host"] == f"http://metastudio-sandbox:{sandbox.port}" == sandbox.public_url
    assert (connection["login"], connection["password"]) == (sandbox.ak, sandbox.sk)
    assert connection["extra"]["project_id"] == sandbox.project_id
    alerts = json.loads(env_example["METASTUDIO_ALERTS_CONN_JSON"])
    assert alerts == {"conn_type": "http", "host": f"http://metastudio-sandbox:{sandbox.port}/_sandbox/webhooks/alerts"}


def test_the_example_connection_is_accepted_by_the_hook(env_example: dict[str, str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_DEFAULT", env_example["METASTUDIO_CONN_JSON"])
    hook = MetaStudioHook("metastudio_default")
    assert hook.config.base_url.rstrip("/") == "http://metastudio-sandbox:8790"


def test_the_documented_real_cloud_connection_is_accepted_by_the_hook(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    (line,) = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.startswith("# METASTUDIO_CONN_JSON=")]
    monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_DEFAULT", line.split("=", 1)[1].strip("'"))
    hook = MetaStudioHook("metastudio_default")
    assert hook.config.base_url.rstrip("/") == "https://metastudio.cn-north-4.myhuaweicloud.com"
    assert hook.config.project_id == "YOUR_PROJECT_ID"


# --- Dockerfile ----------------------------------------------------------------------------------


def pins(path: Path, python: str = "3.11") -> dict[str, str]:
    """The ``name==version`` pins of a requirements or lock file that apply to Python ``python``."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{path.name}: {line} is not pinned"
            if requirement.marker is None or requirement.marker.evaluate({"python_version": python}):
                found[re.sub(r"[-_.]+", "-", requirement.name).lower()] = specifier.version
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_based_on_the_pinned_official_image() -> None:
    (base,) = [argument for instruction, argument in dockerfile_instructions() if instruction == "FROM"]
    assert base == f"apache/airflow:{pins(PROJECT / 'requirements.txt')['apache-airflow']}-python3.11"


def test_dockerfile_installs_the_pinned_requirements_with_the_lock() -> None:
    instructions = dockerfile_instructions()
    copied = " ".join(argument for instruction, argument in instructions if instruction == "COPY")
    assert "requirements.txt" in copied and "constraints-3.11.txt" in copied  # the image's Python
    runs = [argument for instruction, argument in instructions if instruction == "RUN"]
    installs = [shlex.split(run) for run in runs if "pip install" in run]
    requirements = [words for words in installs if "-r" in words]
    (words,) = requirements
    assert words[words.index("-r") + 1].endswith("/requirements.txt")
    assert words[words.index("-c") + 1].endswith("/constraints-3.11.txt")
    (project,) = [words for words in installs if "--no-deps" in words]
    editable = [project[i + 1] for i, flag in enumerate(project[:-1]) if flag == "-e"]
    assert editable == ["/opt/airflow", "/opt/airflow/distributions/airflow-provider-metastudio"]
    # The image is built and run without pip at start-up.
    assert not any("_PIP_ADDITIONAL_REQUIREMENTS" in argument for _, argument in instructions)


@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13"])
def test_the_lock_agrees_with_every_pin(python: str) -> None:
    """Each Python's lock (used by the Dockerfile and make) pins exactly what requirements*.txt pin for it."""
    lock_name = f"constraints-{python}.txt"
    lock = pins(PROJECT / lock_name, python)
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for name, version in pins(PROJECT / requirements, python).items():
            assert lock.get(name) == version, f"{requirements}: {name}=={version}, {lock_name}: {lock.get(name)}"
    for needed in ("apache-airflow-providers-celery", "celery", "redis", "psycopg2-binary", "asyncpg"):
        assert needed in pins(PROJECT / "requirements.txt")


def test_dockerfile_copies_the_mounted_folders_to_the_mount_points(services: dict[str, Any]) -> None:
    copies = [argument.split() for instruction, argument in dockerfile_instructions() if instruction == "COPY"]
    targets = {words[-2].rstrip("/"): words[-1].rstrip("/") for words in copies if len(words) >= 2}
    for folder in ("plugins", "include", "dags"):
        assert targets[folder] == f"/opt/airflow/{folder}"
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    sources = [source for words in copies for source in words[1:-1] if not source.startswith("--")]
    for source in sources:
        for pattern in ignored:
            assert not fnmatch.fnmatch(source.rstrip("/"), pattern.rstrip("/")), f"{source} is excluded by {pattern}"
    assert {".venv", ".git", ".env"} <= set(ignored)
