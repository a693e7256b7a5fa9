"""Local tooling, run from a shell rather than by Airflow: the demo (`demo`, `demo_report`),
the Airflow environment of a checkout (`airflow_env`), the `dag.test` runner
(`airflow_runner`), the local web UI (`airflow_ui`), the SQL check (`sql_check`), the
Compose stack's secrets (`compose_secrets`) and the Cloud Composer deploy (`composer_deploy`).

May import: anything. Nothing imports it (tests and benchmarks aside).
"""
