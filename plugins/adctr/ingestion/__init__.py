"""Ingestion: ad-media report adapters (`adapters/`), normalisation of a report into raw-layer
rows with quarantine reasons, Airflow Connections to API endpoints, the pull plan into the
landing store (`landing`), and the raw-layer load with reconciliation (`raw_load`).

May import: `adctr.core`, `adctr.warehouse` (the backend interface). Never the simulator,
serving, release, orchestration or local tooling.
"""
