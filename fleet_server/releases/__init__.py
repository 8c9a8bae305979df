"""Signed firmware releases: the center's release key (keys.py), the manifest a device verifies
(manifest.py, pure), building a bundle from firmware/ and protocols/ (bundle.py), where releases
are kept (store.py) and the API to list, inspect and withdraw them (api.py). See docs/ota.md."""
