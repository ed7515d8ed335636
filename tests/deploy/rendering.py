"""Rendering the kustomize overlays under deploy/k8s with the real kustomize, offline.

The tool, in order of preference:
1. `$KUSTOMIZE` (a path), or a standalone `kustomize` on PATH;
2. the one this module built before, cached outside the repository
   (~/.cache/hosting-accounts/bin/kustomize-<version>);
3. `kubectl kustomize` (kubectl embeds kustomize; the project's machines have kubectl);
4. building it now from the Go module proxy (`go install sigs.k8s.io/kustomize/kustomize/v5@<version>`,
   about a minute) into that cache.
None of these needs a cluster. When none is possible the caller fails loudly: the manifests are
never "validated" without being rendered by kustomize itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")

KUSTOMIZE_VERSION = "v5.5.0"
CACHE_BIN = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hosting-accounts" / "bin"

Resource = dict[str, Any]


class KustomizeUnavailable(RuntimeError):
    """No way to run kustomize here (no kustomize, no kubectl, no Go toolchain)."""


@dataclass(frozen=True)
class Kustomize:
    argv: tuple[str, ...]  # prefix; the directory is appended
    description: str

    def build(self, directory: Path) -> str:
        result = subprocess.run(
            [*self.argv, str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.description} failed on {directory}:\n{result.stderr}")
        return result.stdout


def _cached_binary() -> Path:
    return CACHE_BIN / f"kustomize-{KUSTOMIZE_VERSION}"


def _build_with_go(go: str) -> Path:
    target = _cached_binary()
    gobin = target.parent / f".build-{os.getpid()}"
    gobin.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    result = subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise KustomizeUnavailable(f"building kustomize {KUSTOMIZE_VERSION} with Go failed:\n{result.stderr}")
    (gobin / "kustomize").replace(target)  # atomic: a concurrent run sees the old or the new file
    shutil.rmtree(gobin, ignore_errors=True)
    return target


def find_kustomize(*, allow_build: bool = True) -> Kustomize:
    explicit = os.environ.get("KUSTOMIZE") or shutil.which("kustomize")
    if explicit:
        return Kustomize((explicit, "build"), f"kustomize ({explicit})")
    cached = _cached_binary()
    if cached.exists():
        return Kustomize((str(cached), "build"), f"kustomize {KUSTOMIZE_VERSION} (cached build)")
    kubectl = shutil.which("kubectl")
    if kubectl:
        return Kustomize((kubectl, "kustomize"), f"kubectl kustomize ({kubectl})")
    go = shutil.which("go")
    if go and allow_build:
        return Kustomize((str(_build_with_go(go)), "build"), f"kustomize {KUSTOMIZE_VERSION} (built now)")
    raise KustomizeUnavailable(
        "no kustomize: install kubectl or kustomize, or Go (to build kustomize from the module proxy)"
    )


def parse(stream: str) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(stream) if doc]


def render(overlay: str, tool: Kustomize | None = None) -> list[Resource]:
    return parse((tool or find_kustomize()).build(K8S / overlay))
