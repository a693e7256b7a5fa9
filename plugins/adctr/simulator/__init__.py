"""The ad-media simulator: a local HTTP reporting API over a seeded world with known truth.

`world` (the generative model and its ground truth), `reports` (report tables and paged CSV
jobs), `submissions` (creatives submitted through the API and their delivery by the truth),
`faults` (data, transport and delivery fault rules), `state` (jobs, clock, config builders),
`routes` (the HTTP server and its route table). `python -m adctr.simulator` serves it.

May import: `adctr.core`. Never the ingestion clients it stands in for (the tests would
otherwise check the client against itself).
"""
