"""What the console's presentation depends on. Environment SIAGA_CONSOLE_* (or the [console] keys
of SIAGA_CONFIG's TOML file via the server's settings, once the lead folds this in).

The thresholds are the dispatcher's colour cues against the 5-minute promise: a waiting incident
turns amber, then red, before the promise is broken, so there is still time to act."""
from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIAGA_CONSOLE_", extra="ignore")

    amber_after_s: int = Field(120, ge=1, description="queue clock turns amber after this many seconds")
    red_after_s: int = Field(240, ge=1, description="queue clock turns red after this many seconds")
    stale_fix_s: int = Field(120, ge=1, description="a unit whose last fix is older is drawn grey")
    tile_url: str = Field("", description="optional XYZ tile URL; empty draws the city from station areas")
    tile_attribution: str = ""
    map_center: tuple[float, float] = (-6.9110, 107.6097)   # Bandung Command Center
    map_zoom: int = 13
    sound: bool = True

    @model_validator(mode="after")
    def _amber_before_red(self):
        if self.amber_after_s >= self.red_after_s:
            raise ValueError(f"amber_after_s ({self.amber_after_s}) must be below red_after_s ({self.red_after_s})")
        return self
