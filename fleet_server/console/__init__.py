"""The operator console: the dispatcher's live map, incident queue and clocks, served by the fleet
server as static ES modules (no build toolchain beyond vendoring Leaflet). See docs/console.md."""
