"""Release: the immutable, versioned artifact store (`artifacts`), the rules for which runs may
promote (`promotion`), serving slots with pins and their audit log (`slots`), version
retention (`retention`) and branch variant deployments (`variants`).

May import: `adctr.core`, `adctr.model`. Never `airflow`, warehouse, training or serving.
"""
