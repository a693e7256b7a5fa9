"""Release: the immutable, versioned artifact store (`artifacts`), the rules for which runs may
promote (`promotion`), serving slots with pins, branch variants' slot claims and the audit log (`slots`), and
version retention (`retention`).

May import: `adctr.core`, `adctr.model`. Never `airflow`, warehouse, training or serving.
"""
