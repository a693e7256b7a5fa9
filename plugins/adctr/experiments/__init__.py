"""The ABn experiment loop: the traffic table (config/experiments.yaml), stable assignment of
units to arms, tracking ids on what is submitted to the medium, and the statistics that judge
each arm against control from delivery joined back by tracking id (docs/experiments.md)."""
