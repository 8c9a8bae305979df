"""Several fleet-server workers on one database and one broker: leases for the singleton duties
(leases.py) and the shared live feed (notify.py). docs/deploy.md, "Several workers"."""
