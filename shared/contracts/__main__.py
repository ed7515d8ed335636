"""`python -m shared.contracts asyncapi [--check | --stdout] [--path P]` and `... openapi <service>`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.contracts import asyncapi
from shared.contracts.catalogue import published_topics


def _asyncapi(path: Path, check: bool, stdout: bool) -> int:
    baseline = asyncapi.load(path)
    topics = published_topics()
    if baseline is not None and (problems := asyncapi.evolution_problems(baseline, topics)):
        print(f"event classes changed in a way that breaks consumers of {path}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    text = asyncapi.render(asyncapi.build(topics, baseline))
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date: run python -m shared.contracts asyncapi", file=sys.stderr)
            return 1
        return 0
    if stdout:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _openapi(service: str) -> int:
    from shared.service import create_app
    from shared.settings import ServiceSettings

    spec = importlib.import_module(f"services.{service}.service").SPEC
    settings = ServiceSettings(
        service=service, database_url="postgresql://unused/unused", kafka_bootstrap_servers="", port=0
    )
    print(json.dumps(create_app(spec, settings).openapi(), indent=2))
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    events = commands.add_parser("asyncapi", help="regenerate the AsyncAPI document of the topics")
    events.add_argument("--path", type=Path, default=asyncapi.DEFAULT_PATH)
    mode = events.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only compare with the committed document")
    mode.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    http = commands.add_parser("openapi", help="print a service's OpenAPI document")
    http.add_argument("service")
    args = parser.parse_args(argv)
    if args.command == "asyncapi":
        return _asyncapi(args.path, args.check, args.stdout)
    return _openapi(args.service)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
