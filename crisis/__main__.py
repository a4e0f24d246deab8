"""Command line of the crisis detector.

``python -m crisis scan [--lang LANG]`` grades one message per stdin line and writes one JSON
object per line (tier, language, matches, reasons, …), so moderators and clinicians can run the
detector over exported chat without writing code. ``python -m crisis train`` rebuilds the
classifier (crisis/classifier_model.json) from crisis/training/data; ``python -m crisis evaluate``
prints its precision/recall on texts it did not train on. Both need the ``training`` extra.
``python -m crisis browser-model`` writes the detector's data for the browser (crisis/browser_model.py).
``python -m crisis export-outcomes FILE`` writes resolved alerts as labelled JSON lines (crisis/export.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from crisis.detector import detect


def scan(language: str | None, trust_language: bool) -> int:
    """Grade each stdin line; empty lines are echoed as tier 0 so output lines match input lines."""
    out = sys.stdout.buffer
    for line in sys.stdin:
        message = line.rstrip("\n")
        result = detect(message, language, trust_language=trust_language).to_dict()
        out.write(orjson.dumps(result) + b"\n")
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crisis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scan_parser = commands.add_parser("scan", help="grade one message per stdin line, JSON lines out")
    scan_parser.add_argument("--lang", default=None, help="caller's language hint (e.g. en, es, fr)")
    scan_parser.add_argument("--trust-lang", action="store_true",
                             help="use --lang as is, without identifying longer messages")
    commands.add_parser("train", help="rebuild crisis/classifier_model.json from crisis/training/data")
    commands.add_parser("evaluate", help="print precision/recall per source, language and tier on held-out texts")
    commands.add_parser("browser-model", help="write static/js/crisis/model.json, the detector's data for private rooms")
    export_parser = commands.add_parser("export-outcomes", help="resolved alerts as labelled JSON lines, for evaluation")
    export_parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "export-outcomes":
        # builds the whole server: loaded only for this command
        from crisis.export import run_export

        return asyncio.run(run_export(args.file))
    if args.command == "train":
        from crisis.training.train import MODEL_PATH, train_shipped_model  # needs the training extra

        model = train_shipped_model()
        print(f"wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size} bytes, {len(model.weights)} weights; {model.version})")
        return 0
    if args.command == "browser-model":
        from crisis.browser_model import write  # reads py3langid's tables: only for this command

        path = write()
        print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    if args.command == "evaluate":
        from crisis.training.evaluate import main as evaluate  # needs the training extra

        return evaluate()
    return scan(args.lang, args.trust_lang)


if __name__ == "__main__":
    sys.exit(main())
