"""The `siaga` command."""
from pathlib import Path

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


# ---- simulated city (issue 6) ------------------------------------------------------------------
sim_app = typer.Typer(help="Simulated devices and scenarios.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


@app.command()
def demo(duration: float = typer.Option(None, help="stop after this many seconds (default: until Ctrl-C)"),
         speedup: float = typer.Option(None, help="scenario acceleration (default: the scenario's own)"),
         http_port: int = typer.Option(8112, help="console/API port (a free one if taken)"),
         mqtt_port: int = typer.Option(18830, help="broker port (a free one if taken)"),
         workdir: Path = typer.Option(None, help="where the demo keeps its state (default: run/demo)")) -> None:
    """Broker, fleet server and the simulated city of Bandung; prints the console URL and login."""
    from simulators import demo as demo_mod

    raise typer.Exit(demo_mod.main(duration=duration, speedup=speedup, http_port=http_port, mqtt_port=mqtt_port,
                                   workdir=workdir))


@sim_app.command("run")
def sim_run(scenario: str = typer.Argument(..., help="scenario YAML, e.g. simulators/scenarios/bandung.yaml"),
            server: str = typer.Option("http://127.0.0.1:8112", help="fleet server base URL"),
            user: str = typer.Option("admin"), password: str = typer.Option(..., prompt=True, hide_input=True),
            broker_host: str = typer.Option("127.0.0.1"), broker_port: int = typer.Option(1883),
            broker_dir: str = typer.Option(None, help="the project broker's directory, to add device accounts"),
            speedup: float = typer.Option(None), once: bool = typer.Option(True, help="play the timeline once")) -> None:
    """Run a scenario against any broker and server, with a live summary."""
    from simulators import simrun

    raise typer.Exit(simrun.main(scenario, server, user, password, broker_host, broker_port, broker_dir, speedup, once))


# ---- technician provisioning (issue 8) ----------------------------------------------------------
from fleet_server.provisioning.cli import device_app  # noqa: E402

app.add_typer(device_app, name="device")
