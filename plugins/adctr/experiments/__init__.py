"""The ABn experiment loop: the traffic table (config/experiments.yaml), stable assignment of
units to arms, tracking ids on what is submitted to the medium, and the statistics that judge
each arm against control from delivery joined back by tracking id (docs/experiments.md).

May import: `adctr.core`, `adctr.model`, `adctr.warehouse`, `adctr.release`. Never `airflow`,
and nothing of ingestion, quality, scoring, serving or the simulator: the orchestration layer
hands it what they produce (tables, truth rows).
"""
