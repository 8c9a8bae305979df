"""`siaga firmware ...`: the center's release key and signed firmware releases (docs/ota.md).
Mounted by fleet_server/cli.py. Defaults come from the server's Settings: keys in
<data_dir>/release-keys, releases in <data_dir>/releases (where the API lists them)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from fleet_server.i18n import N_, _, localized
from fleet_server.releases.manifest import ReleaseError

firmware_app = typer.Typer(help="Signed firmware releases for over-the-air updates.", no_args_is_help=True)
console = Console()

KEY_DIR = typer.Option(None, "--key-dir", help="release key directory (default <data_dir>/release-keys)")


def _data_dir() -> Path:
    from fleet_server.settings import Settings

    return Settings().data_dir


def _fail(e: ReleaseError | OSError) -> None:
    console.print(f"[bold red]✗ {localized(e)}[/]")
    raise typer.Exit(1)


@firmware_app.command("keys")
def create_keys(key_dir: Path = KEY_DIR) -> None:
    """Create the center's release key pair (private key 0600 in a 0700 directory)."""
    from fleet_server.releases import keys

    d = key_dir or keys.default_dir(_data_dir())
    try:
        pub = keys.create(d)
    except ReleaseError as e:
        _fail(e)
    typer.echo(_("release key created in {dir} (the private key never leaves this machine)").format(dir=d))
    typer.echo(_("public key (devices trust this): {key}").format(key=pub.hex()))
    typer.echo(_("key id: {id}").format(id=keys.fingerprint(pub)))


@firmware_app.command("release")
def build_release(version: str = typer.Option(..., help="MAJOR.MINOR.PATCH, above every earlier release"),
                  kind: str = typer.Option("button", help="button|tracker"),
                  board: list[str] = typer.Option(None, "--board", help="target board (repeat; default: every board of the kind)"),
                  min_version: str = typer.Option("0.0.0", help="the oldest version a device may upgrade from"),
                  key_dir: Path = KEY_DIR,
                  out: Path = typer.Option(None, help="releases directory (default <data_dir>/releases)")) -> None:
    """Build, sign and store a release bundle from firmware/ and protocols/."""
    from fleet_server.releases import bundle, keys
    from fleet_server.releases.store import releases_dir

    data = None if key_dir and out else _data_dir()
    try:
        path = bundle.build(version, kind, board, min_version, key_dir or keys.default_dir(data),
                            out or releases_dir(data))
    except ReleaseError as e:
        _fail(e)
    console.print(_("release {version} written to {path}").format(version=version, path=path))


# What a device refuses in a bundle (protocols/release.py) is a code, a space and the detail: the code
# is what a device reports and the detail is data (a path, a key id), so both are printed as they
# are, after a sentence that says what the code means in the reader's language.
BUNDLE_REFUSALS = {
    "bad_signature": N_("the manifest's signature does not verify with this public key"),
    "bad_manifest": N_("the manifest is not one a device can read"),
    "missing": N_("a file the manifest lists is not in the bundle"),
    "size_mismatch": N_("a file's size differs from the manifest"),
    "hash_mismatch": N_("a file's SHA-256 differs from the manifest"),
}


def bundle_refusal(why: str) -> str:
    """'bad_signature signature_mismatch' -> 'the manifest's signature … (bad_signature signature_mismatch)'."""
    sentence = BUNDLE_REFUSALS.get(why.split(" ", 1)[0])
    return f"{_(sentence)} ({why})" if sentence else why


@firmware_app.command("verify")
def verify(bundle_dir: Path = typer.Argument(..., help="a release directory (…/releases/<version>)"),
           key_dir: Path = KEY_DIR) -> None:
    """Check a bundle the way a device does: signature, manifest, every file's size and SHA-256."""
    from fleet_server.releases import keys
    from fleet_server.releases.store import verify_bundle

    try:
        why = verify_bundle(bundle_dir, keys.load_public(key_dir or keys.default_dir(_data_dir())))
    except (ReleaseError, OSError) as e:
        _fail(e)
    if why:
        console.print("[bold red]✗ " + _("refused: {why}").format(why=bundle_refusal(why)) + "[/]")
        raise typer.Exit(1)
    console.print("✓ " + _("{bundle} verifies").format(bundle=bundle_dir))
