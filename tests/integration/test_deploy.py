"""The deployment files: compose.yaml (PostgreSQL, a one-off migration, two instances, Caddy), the
Caddyfile and the Dockerfile. `docker compose config` validates the compose file where Docker's
compose plugin is installed; the image is built only where a Docker daemon answers."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from models.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOTENV = {"TOTRUONG_DOMAIN": "totruong.example.vn", "POSTGRES_PASSWORD": "s3cret-for-the-test"}


def _substituted(value: str) -> str:
    """compose's ${NAME}, ${NAME:?message} and ${NAME:-default} with the test's .env."""
    def one(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(2) or ""
        if name in DOTENV:
            return DOTENV[name]
        return rest[2:] if rest.startswith(":-") else ""
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)((?::[?-])[^}]*)?\}", one, value)


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _docker_answers(*args: str) -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", *args], capture_output=True, timeout=30).returncode == 0


def test_compose_file_runs_postgres_two_instances_and_caddy() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"db", "migrate", "app1", "app2", "caddy"}
    assert services["db"]["image"].startswith("postgres:15") and "healthcheck" in services["db"]
    assert services["migrate"]["command"] == ["db", "upgrade"] and services["migrate"]["restart"] == "no"
    for name in ("app1", "app2"):
        app = services[name]
        assert app["image"] == "totruong:latest" and app["build"] == "."
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        assert "files:/data" in app["volumes"]  # both instances see the same photos
        environment = {key: _substituted(str(value)) for key, value in app["environment"].items()}
        assert environment["TOTRUONG_DATABASE__URL"] == (
            "postgresql+psycopg://totruong:s3cret-for-the-test@db:5432/totruong")
        # Every variable is a setting the app knows, with a value it accepts.
        settings = load_settings({**environment, "TOTRUONG_TELEGRAM__WEBHOOK_SECRET": "x" * 20}, ROOT / "config.toml")
        assert settings.telegram.mode == "webhook" and not settings.database.auto_migrate
        assert settings.web.public_url == "https://totruong.example.vn"
    assert services["caddy"]["image"].startswith("caddy:2") and "443:443" in services["caddy"]["ports"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy app1:8080 app2:8080" in caddyfile and "health_uri /readyz" in caddyfile
    assert "/telegram/webhook /zalo/webhook /zalo/files/*" in caddyfile and "respond 404" in caddyfile


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    if not _docker_answers("compose", "version"):
        pytest.skip("docker compose is not installed here: the file was checked by parsing it instead")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in DOTENV.items()), encoding="utf-8")
    done = subprocess.run(["docker", "compose", "--env-file", str(env_file), "-f", str(ROOT / "compose.yaml"),
                           "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def _dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _sep, value = pair.partition("=")
                env[key] = value
    return env


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.12-slim", "python:3.12-slim"]
    assert re.search(r"^USER totruong$", text, re.M) and "useradd --system --uid 10001" in text
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.M)
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / source).exists(), source
    env = _dockerfile_env()
    assert env["TOTRUONG_CONFIG"] == "/app/config.toml" and env["TOTRUONG_WEB__SIMULATOR"] == "false"
    settings = load_settings({k: v for k, v in env.items() if k != "TOTRUONG_CONFIG"}, ROOT / "config.toml")
    assert settings.web.host == "0.0.0.0" and str(settings.data_dir) == "/data"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "data", "tests"} <= set(ignored)


def test_the_image_builds_and_answers() -> None:
    if not _docker_answers("info"):
        pytest.skip("no Docker daemon answers on this machine: the image was not built")
    tag = "totruong:test-build"
    try:
        built = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stderr[-3000:]
        helped = subprocess.run(["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True, timeout=120)
        assert helped.returncode == 0 and "doctor" in helped.stdout, helped.stderr
        user = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True,
                              text=True, timeout=120)
        assert user.stdout.strip() == "10001"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)


def test_caddy_accepts_the_caddyfile() -> None:
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed here: the Caddyfile was checked by reading it instead")
    done = subprocess.run(["caddy", "validate", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter",
                           "caddyfile"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **DOTENV})
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr[-2000:]
