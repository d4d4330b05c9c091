"""Entry point of a detached worker.

Run as ``python -m airctx.engine.worker ROOT REGION ACCOUNT ARN``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from airctx.engine.store import Store
from airctx.engine.work import Executor


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(
            "usage: python -m airctx.engine.worker ROOT REGION ACCOUNT ARN",
            file=sys.stderr,
        )
        return 2
    root, _region, _account, arn = argv
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s"
    )
    Executor(Store(Path(root))).run(arn)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
