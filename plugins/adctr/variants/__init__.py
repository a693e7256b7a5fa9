"""Branch variants: a git branch's SQL, expectations, config and training code deployed beside
main in the same Airflow (`deployment`), the models it changed and everything downstream built
into variant-scoped tables while unchanged ones are read from production (`plan`, dbt's
`state:modified+` with `--defer`), the partitions it built (`ledger`), what the branch changes
(`diff`) and its training code run from its own copy (`isolated`).

May import: `adctr.core`, `adctr.model`, `adctr.warehouse`, `adctr.release`. Never `airflow`,
training, quality or serving.
"""
