"""The ``sk-emotion`` command line.

Errors are printed as one line on standard error with a non-zero exit status;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        self.exit(2, f"sk-emotion: error: {message} (see --help)\n")


def _cmd_weights(args: argparse.Namespace) -> int:
    from .weights import MiniXceptionWeights, MTCNNWeights, cache_dir, sha256sum

    print(f"cache directory: {cache_dir()}  (override with $SK_EMOTION_HOME)")
    status = 0
    for enum in (MiniXceptionWeights, MTCNNWeights):
        weights = enum.DEFAULT
        print(f"\n{enum.__name__}.{weights.name}  licence: {weights.meta['license']}")
        for role, spec in weights.files.items():
            candidates = [spec.cached_path(), spec.installed_path()]
            found = [p for p in candidates if p is not None and p.is_file()]
            if not found:
                status = 1
                print(f"  {role:6s} MISSING  get it with: {spec.install_hint} (or it downloads from {spec.url})")
                continue
            path = found[0]
            ok = sha256sum(path) == spec.sha256
            if not ok:
                status = 1
            print(f"  {role:6s} {'ok      ' if ok else 'BAD SHA '} {path}")
    return status


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(verbose=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sk-emotion", description="Emotion recognition in face videos.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="run the pretrained model on real faces that ship with installed packages")
    demo.add_argument("--quiet", action="store_true", help="print only the result table")
    demo.set_defaults(func=_cmd_demo)

    weights = sub.add_parser("weights", help="where the pretrained files are, and their checksum status")
    weights.set_defaults(func=_cmd_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sk-emotion`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("sk-emotion: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for users, the traceback with --debug
        if args.debug:
            raise
        lines = [line.strip(" -") for line in str(exc).strip().splitlines() if line.strip()]
        message = "; ".join(lines) if lines else type(exc).__name__
        print(f"sk-emotion: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
