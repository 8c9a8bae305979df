"""The `siaga` command."""
import typer

app = typer.Typer(help="Siaga 112: field-device fleet of a 112 emergency command center.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Siaga 112 command line."""
