"""The serving side: read published model versions and score requests (no Airflow needed).

- `instances`: the loose feature interface (extra features ignored, optional ones defaulted,
  missing required ones or wrong types refused with the names listed).
- `jsonbody`: JSON bodies decoded (msgspec) straight into the matrix; anything unusual goes
  to the validating path of `instances`.
- `compiled`: each loaded version's trees compiled to native code (lleaves), serving only once
  they score a probe of the model's split points as `Booster.predict` does.
- `reader`: version policies (`latest`, `latest: k`, `specific: [..]`), hash-verified loads,
  polling and hot swap of `serving/<slot>/<version>/` (or any version folder).
- `service`: the reference scoring service (FastAPI + Prometheus metrics).
- `limits`: what one request may carry (body bytes, instances; config/slots.yaml `serving:`).
- `openapi`: the service's OpenAPI document, request bodies built from the loaded specs.

Start it with `python -m adctr.serving` (see `--help`).

May import: `adctr.core`, `adctr.model`, `adctr.release`. Never `airflow`, not even
indirectly (a contract checks it), nor training, the warehouse or ingestion.
"""
