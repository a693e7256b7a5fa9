"""adctr: the library behind the ad CTR/CVR pipelines.

Import-light on purpose: DAG files import from here at parse time, so submodules
pull in heavy dependencies (pandas, duckdb, great_expectations) only when called.
"""
