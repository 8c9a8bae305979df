"""Hardware the firmware runs on: pin maps, netlists, wiring diagrams, bills of materials."""
