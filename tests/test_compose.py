"""The deployment files: ``docker-compose.yml`` against the Compose specification, the ``Dockerfile``'s
coherence with the package, and ``deploy.env.example`` against the server's configuration checks.

The structural checks run everywhere (pyyaml). ``docker-compose config`` validates the file when the
binary is installed (Debian's ``docker-compose`` package); otherwise the Compose JSON schema that
package ships is used when it and ``jsonschema`` are present.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / "deploy.env.example"
#: where Debian's docker-compose package (and the PyPI ``docker-compose`` 1.x) keep the Compose schema
SCHEMA_CANDIDATES = ("compose/config/compose_spec.json",)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def service() -> dict:
    (svc,) = compose()["services"].values()
    return svc


def dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def instructions(name: str) -> list[str]:
    return [ln[len(name) + 1 :].strip() for ln in dockerfile_lines() if ln.upper().startswith(name + " ")]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as Compose reads an env file."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def interpolate_default(value: str) -> str:
    """``${VAR:-default}`` -> ``default`` (the value with no variables set)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


# ---- structure (always) ------------------------------------------------------------------------------


def test_the_bot_is_built_from_the_dockerfile():
    svc = service()
    build = svc["build"]
    context = ROOT / build["context"]
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert "version" not in compose()  # the Compose specification needs no version key


def test_a_named_volume_holds_the_data_dir():
    doc, svc = compose(), service()
    data_dir = svc["environment"]["POLICYBOT_DATA_DIR"]
    assert f"POLICYBOT_DATA_DIR={data_dir}" in " ".join(instructions("ENV"))
    mounts = [v.split(":") for v in svc["volumes"]]
    named = [(src, dst) for src, dst, *_ in mounts if src in (doc.get("volumes") or {})]
    assert (named[0][1] if named else None) == data_dir, mounts
    assert any(data_dir in v for v in instructions("VOLUME"))


def test_secrets_come_from_an_env_file_that_is_never_committed():
    svc = service()
    (env_file,) = svc["env_file"]
    path = interpolate_default(env_file if isinstance(env_file, str) else env_file["path"])
    assert Path(path).name == "deploy.env"
    assert "deploy.env" in (ROOT / ".gitignore").read_text().split()
    assert "deploy.env" in (ROOT / ".dockerignore").read_text().split()  # not even in the build context
    assert ENV_EXAMPLE.exists()
    secrets = {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "POLICYBOT_REPORT_KEY",
        "MicrosoftAppPassword",
        "POLICYBOT_WEBCHAT_SECRET",
        "POLICYBOT_METRICS_TOKEN",
    }
    assert secrets.isdisjoint(svc.get("environment") or {})  # secrets only in the env file


def test_healthcheck_hits_healthz_on_the_served_port_and_a_restart_policy_is_set():
    svc = service()
    test = svc["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and any("/healthz" in part for part in test)
    (cmd,) = instructions("CMD")
    argv = json.loads(cmd)
    port = argv[argv.index("--port") + 1]
    assert any(f"127.0.0.1:{port}/healthz" in part for part in test)
    assert any(interpolate_default(p).endswith(f":{port}") for p in svc["ports"])
    assert svc["restart"] in ("always", "unless-stopped", "on-failure")
    grace = svc["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 30  # drain 10 s + requests 10 s, with room


def test_the_dockerfile_copies_what_the_app_needs_and_runs_as_a_user():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted({name.split(".")[0] for name in found})  # top-level packages
    assert packages == ["adapters", "bot", "index", "knowledge"]
    copied = {c.split()[0].rstrip("/") for c in instructions("COPY")}
    for needed in [*packages, "config", "teams", "pyproject.toml", "constraints.txt"]:
        assert needed in copied, needed
        assert (ROOT / needed).exists(), needed
    # read at run time beside the packages, so the install must be in place (-e)
    assert (ROOT / "adapters" / "webchat_static" / "index.html").exists()
    runs = " ".join(instructions("RUN"))
    assert re.search(r"pip install [^&]*-e \.", runs)
    assert "w.check_static()" in runs and "a.check_static()" in runs  # the web chat's and the admin console's pages
    assert re.search(r"--index-url https://download\.pytorch\.org/whl/cpu torch==2\.13\.0", runs)
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
    (user,) = instructions("USER")
    assert user not in ("root", "0")
    (cmd,) = instructions("CMD")
    argv = json.loads(cmd)
    assert argv[:2] == ["policybot", "serve"] and argv[argv.index("--host") + 1] == "0.0.0.0"
    assert instructions("HEALTHCHECK") and "/healthz" in instructions("HEALTHCHECK")[0]


def test_the_build_context_leaves_out_secrets_and_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "data", "deploy.env", "*.key"):
        assert entry in ignored, entry


# ---- the example env file against the server's own checks -------------------------------------------


def test_the_example_env_file_starts_a_server_on_every_interface():
    from adapters.server import ServerSettings, check_settings
    from adapters.teams import teams_settings
    from adapters.webchat import webchat_settings

    env = read_env_file(ENV_EXAMPLE)
    settings = ServerSettings(host="0.0.0.0", env=env)
    check_settings(settings)  # no ConfigError: the container starts
    assert teams_settings(env, "0.0.0.0") is None  # Teams off until its credentials are set
    assert webchat_settings(env, "0.0.0.0")[0] is None  # web chat off until a secret or proxy header is set
    assert webchat_settings({**env, "POLICYBOT_WEBCHAT_SECRET": "x" * 24}, "0.0.0.0")[0].mode == "secret"


def test_without_teams_off_the_container_would_refuse_to_start():
    from adapters.server import ConfigError, ServerSettings, check_settings

    env = read_env_file(ENV_EXAMPLE)
    env.pop("POLICYBOT_TEAMS")
    with pytest.raises(ConfigError, match="MicrosoftAppId"):
        check_settings(ServerSettings(host="0.0.0.0", env=env))


def test_the_example_names_only_settings_the_code_reads_and_a_valid_key_format():
    env = read_env_file(ENV_EXAMPLE)
    source = "".join(p.read_text() for d in ("bot", "adapters", "index") for p in (ROOT / d).rglob("*.py"))
    names = set(env) | set(re.findall(r"^# ([A-Za-z_]+)=", ENV_EXAMPLE.read_text(), re.M))
    for name in names:
        if name.startswith("POLICYBOT_"):
            assert name in source, name
    text = ENV_EXAMPLE.read_text()
    assert "Fernet" not in text and "policybot cases keygen" in text and "44 characters" in text
    assert all("#" not in v for v in env.values())  # Compose keeps inline comments in the value


# ---- validation against the Compose specification ----------------------------------------------------


def compose_binary() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def run_config(binary: list[str], env_file: Path | None, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYBOT_", "COMPOSE_"))}
    if env_file is not None:
        env["POLICYBOT_ENV_FILE"] = str(env_file)
    return subprocess.run(
        [*binary, "-f", str(COMPOSE), "--project-directory", str(cwd), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


def test_docker_compose_config_validates_the_file(tmp_path):
    if compose_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (make test installs it: scripts/ensure-test-tools)")
        pytest.skip("no docker-compose binary")
    env_file = tmp_path / "deploy.env"
    shutil.copy(ENV_EXAMPLE, env_file)
    with env_file.open("a") as f:
        f.write("SLACK_BOT_TOKEN=xoxb-example\n")
    binary = compose_binary()
    p = run_config(binary, env_file, ROOT)
    assert p.returncode == 0, p.stderr
    resolved = yaml.safe_load(p.stdout)
    svc = resolved["services"]["bot"]
    assert svc["environment"]["SLACK_BOT_TOKEN"] == "xoxb-example"  # the env file was read
    assert svc["environment"]["POLICYBOT_DATA_DIR"] == "/data"
    assert "policybot-data" in resolved["volumes"]
    missing = run_config(binary, tmp_path / "nope.env", ROOT)
    assert missing.returncode != 0  # the env file is required: no secrets, no start


def compose_schema() -> Path | None:
    for base in sys.path + ["/usr/lib/python3/dist-packages"]:
        for rel in SCHEMA_CANDIDATES:
            p = Path(base) / rel
            if p.is_file():
                return p
    return None


def test_the_compose_schema_accepts_the_file():
    if compose_binary() is not None:
        pytest.skip("validated by docker-compose config")
    schema_path = compose_schema()
    jsonschema = pytest.importorskip("jsonschema")
    if schema_path is None:
        pytest.skip("no Compose JSON schema installed")
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(compose(), schema)
