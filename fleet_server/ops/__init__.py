"""Running the center: the database brought to head, backed up and restored (`siaga db upgrade`,
`siaga backup`, `siaga restore`; docs/deploy.md)."""
