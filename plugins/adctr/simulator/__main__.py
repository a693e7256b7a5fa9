"""Run the simulator: `python -m adctr.simulator [--port N] [--today YYYY-MM-DD] [--url-file F]`."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import date
from pathlib import Path

from adctr.core import settings
from adctr.simulator.routes import SimulatorServer
from adctr.simulator.state import state_from_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--today", type=date.fromisoformat, default=None)
    parser.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    args = parser.parse_args(argv)

    cfg = settings.load_config("simulator")
    tz = settings.load_config("pipeline")["account_timezone"]
    server = SimulatorServer(state_from_config(cfg, args.today, tz), args.host, args.port).start()
    if args.url_file:
        tmp = args.url_file.with_suffix(".tmp")
        tmp.write_text(server.url)
        tmp.replace(args.url_file)
    print(f"ad-media simulator listening on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
