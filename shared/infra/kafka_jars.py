"""The Kafka broker's classpath: resolved from Maven Central once, cached outside the repository.

`tools/kafka/pom.xml` pins the version (and is the only place to bump it). Maven copies the
runtime dependencies into `<cache>/kafka-<version>/libs`, where the cache is
`$KAFKA_JARS_CACHE`, else `$XDG_CACHE_HOME/hosting-accounts`, else `~/.cache/hosting-accounts`.
A marker file written after a complete copy tells a finished cache from an interrupted one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import structlog

from shared.infra.errors import LauncherError, StartupFailed, ToolNotFound
from shared.infra.processes import file_lock

log = structlog.get_logger(__name__)

KAFKA_POM = Path(__file__).resolve().parents[2] / "tools" / "kafka" / "pom.xml"


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """The `kafka.version` property of our own pom."""
    tree = ElementTree.parse(pom)  # noqa: S314 - our own file in the repository, not untrusted input
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = tree.findtext("m:properties/m:kafka.version", namespaces=namespace)
    if not version:
        raise LauncherError(f"no <kafka.version> property in {pom}")
    return version.strip()


def default_jars_cache() -> Path:
    """The directory holding `kafka-<version>/libs`, shared by all checkouts on the machine."""
    override = os.environ.get("KAFKA_JARS_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "hosting-accounts"


def libs_dir_for(version: str, jars_cache: Path | None = None) -> Path:
    return (jars_cache or default_jars_cache()).absolute() / f"kafka-{version}" / "libs"


def ensure_kafka_jars(libs_dir: Path, pom: Path = KAFKA_POM) -> Path:
    """Copy the pom's runtime classpath into `libs_dir` unless a complete copy is already there."""
    marker = libs_dir / ".complete"
    # The marker records which pom the copy came from, so a changed pom (another log4j, a
    # dropped module) refreshes the cache even though the Kafka version stayed the same.
    expected = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _marker_matches(marker, expected):
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(libs_dir.parent / "download.lock"):
        if _marker_matches(marker, expected):
            return libs_dir  # another launcher finished the copy while we waited for the lock
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ToolNotFound("mvn", "Maven is needed once to fetch the Kafka jars from Maven Central")
        # No marker means an interrupted or outdated copy: start over rather than trust it.
        shutil.rmtree(libs_dir, ignore_errors=True)
        began = time.monotonic()
        command = [
            mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={libs_dir}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise StartupFailed(f"Kafka jar download into {libs_dir}", "mvn failed", output)
        marker.write_text(expected + "\n")
        log.info("kafka_jars_cached", libs_dir=str(libs_dir), seconds=round(time.monotonic() - began, 1))
    return libs_dir


def _marker_matches(marker: Path, expected: str) -> bool:
    try:
        return marker.read_text().strip() == expected
    except OSError:
        return False
