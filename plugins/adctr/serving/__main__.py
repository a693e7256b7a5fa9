"""Run the scoring service, or print the slot audit log.

    python -m adctr.serving [--store URI] [--slots ctr0,cvr0] [--host 127.0.0.1] [--port 8501]
                            [--poll-interval 10] [--policy latest|latest:K|specific:N,M]
                            [--predictor compiled|booster]
    python -m adctr.serving audit [--store URI] [--slot cvr1]

The store defaults to the artifact store of config/storage.yaml (a local folder, or
gs://bucket/prefix with application default credentials); slots and the poll interval
default to config/slots.yaml, whose `serving:` section also bounds each request (body bytes,
instances).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from adctr.core import settings


def default_store_uri() -> str:
    cfg = settings.load_config("storage")
    if settings.selected_backend("storage") == "gcs":
        gcs = cfg.get("gcs") or {}
        bucket = os.environ.get("ADCTR_GCS_BUCKET") or gcs.get("bucket")
        return f"gs://{bucket}/{gcs.get('artifact_prefix', 'artifact')}"
    return str(settings.resolve_var_path((cfg.get("local") or {}).get("artifact_dir", "artifact")))


def parse_policy(text: str) -> object:
    from adctr.serving.reader import VersionPolicy

    kind, _, arg = text.partition(":")
    if kind == "latest":
        return VersionPolicy.parse({"latest": int(arg)} if arg else "latest")
    if kind == "specific":
        return VersionPolicy.parse({"specific": [int(v) for v in arg.split(",") if v]})
    return VersionPolicy.parse(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adctr.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "audit"])
    parser.add_argument("--store", default=None, help="artifact store URI (default: config/storage.yaml)")
    parser.add_argument("--slots", help="comma-separated slots (default: all in config/slots.yaml)")
    parser.add_argument("--slot", help="audit: only this slot")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--poll-interval", type=float, default=None)
    parser.add_argument("--policy", default="latest")
    parser.add_argument("--predictor", choices=["compiled", "booster"], default=None,
                        help="compiled trees (lleaves, proved against the booster at load) or Booster.predict "
                             "(default: config/slots.yaml serving.predictor)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from adctr.core.storage import open_store

    store = open_store(args.store or default_store_uri())
    if args.command == "audit":
        from adctr.release.slots import audit_log

        for record in audit_log(store, args.slot):
            print(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return 0

    import uvicorn

    from adctr.serving.compiled import PredictorConfig
    from adctr.serving.limits import ServingLimits
    from adctr.serving.service import SlotService, create_app

    slots_cfg = settings.load_config("slots")
    serving_cfg = slots_cfg.get("serving") or {}
    slots = args.slots.split(",") if args.slots else sorted(slots_cfg["slots"])
    interval = args.poll_interval or float(serving_cfg.get("poll_interval_seconds", 10))
    limits = ServingLimits.from_config(serving_cfg)
    predictor = PredictorConfig.from_config(serving_cfg, args.predictor)
    service = SlotService(store, slots, parse_policy(args.policy), interval, predictor)  # type: ignore[arg-type]
    logging.getLogger(__name__).info("serving %s from %r, polling every %.1fs, limits %s, %s", slots, store,
                                     interval, limits, predictor)  # fmt: skip
    uvicorn.run(create_app(service, limits=limits), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
