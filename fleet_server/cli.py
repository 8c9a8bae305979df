"""The `siaga` command."""
import typer

app = typer.Typer(help="Siaga 112: field-device fleet of a 112 emergency command center.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Siaga 112 command line."""


# ---- fleet server (issue 4) -------------------------------------------------------------------
admin_app = typer.Typer(help="Administration of the fleet server.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(host: str = typer.Option(None, help="default: Settings.http_host"),
          port: int = typer.Option(None, help="default: Settings.http_port")) -> None:
    """Run the fleet server (API, MQTT ingest, supervision) under uvicorn."""
    import uvicorn

    from fleet_server import logs
    from fleet_server.app import create_app
    from fleet_server.settings import Settings

    settings = Settings()
    logs.setup(settings.log_level, settings.log_json)
    uvicorn.run(create_app(settings), host=host or settings.http_host, port=port or settings.http_port,
                log_config=None, access_log=False)


@admin_app.command("create-user")
def create_user(username: str, role: str = typer.Option("admin", help="viewer|operator|dispatcher|technician|admin"),
                password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Create a console user (the first admin, typically)."""
    from fastapi import HTTPException

    from fleet_server.api.routes.auth import create_user_record
    from fleet_server.api.security import ROLES
    from fleet_server.settings import Settings
    from fleet_server.storage.db import Database

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise typer.BadParameter("password needs at least 8 characters")
    db = Database(Settings().sqlalchemy_url)
    try:
        create_user_record(db, username, password, role, "cli")
    except HTTPException as e:
        typer.echo(f"not created: {e.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"user {username} ({role}) created")
