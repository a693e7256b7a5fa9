"""A config/ copy whose simulated world serves about a given number of report rows a day over
three media, for the benches that pull from the simulator (ingest_http, backfill).

Every creative slot of the world serves each day on every device, so rows a day = advertisers
x creatives per advertiser x 3 devices x 3 media.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ["yahoo_ads", "google_ads", "meta"]
CREATIVES_PER_ADVERTISER = 12  # 2 campaigns x 2 ad groups x 3 creatives
DEVICES = 3


def write_config(tmp: Path, rows_per_day: int, page_size: int, listing_page_size: int | None = None) -> Path:
    """`tmp`/config: the project's config with the world sized to `rows_per_day`, three media
    of the report-job adapter, report pages of `page_size` rows (and asset-library pages of
    `listing_page_size`, when given), and client timeouts fit for pulls of that size."""
    cfg_dir = tmp / "config"
    shutil.copytree(ROOT / "config", cfg_dir)
    sim = yaml.safe_load((cfg_dir / "simulator.yaml").read_text())
    advertisers = max(1, math.ceil(rows_per_day / (len(MEDIA) * DEVICES * CREATIVES_PER_ADVERTISER)))
    sim["world"].update(advertisers=advertisers)
    sim["report"].update(page_size=page_size)
    if listing_page_size is not None:
        sim["assets"].update(page_size=listing_page_size)
    (cfg_dir / "simulator.yaml").write_text(yaml.safe_dump(sim))
    media = yaml.safe_load((cfg_dir / "media.yaml").read_text())
    template = media["media"][0]
    media["media"] = [{**template, "name": m} for m in MEDIA]
    media["client"].update(timeout_seconds=600, job_timeout_seconds=1200, page_concurrency=4)
    (cfg_dir / "media.yaml").write_text(yaml.safe_dump(media))
    return cfg_dir


def write_expectations(tmp: Path, media: list[str] = MEDIA) -> Path:
    """`tmp`/expectations: the project's suites with every `medium` value set listing `media`,
    as a team adding a medium to config/media.yaml edits the suites in the same review."""
    import json

    out = tmp / "expectations"
    shutil.copytree(ROOT / "expectations", out)
    for path in out.glob("*.json"):
        suite = json.loads(path.read_text())
        for e in suite["expectations"]:
            if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"].get("column") == "medium":
                e["kwargs"]["value_set"] = list(media)
        path.write_text(json.dumps(suite, indent=2) + "\n")
    return out
