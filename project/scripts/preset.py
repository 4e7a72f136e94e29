"""Run a command with the settings of one preset section appended as `--key=value` flags.

Presets (`configs/presets/NAME.cfg`) hold the sizes that differ between a CI run, a
CPU demo and a full GPU run. Each section belongs to one step; its keys are the
step's option names (`max-words`, or spaCy overrides such as `training.max_steps`).
"""
import json
import subprocess
import sys
from pathlib import Path
from typing import List

import typer
from thinc.api import Config

PRESETS = Path(__file__).parent.parent.parent / "configs" / "presets"


def preset_flags(preset: str, section: str) -> List[str]:
    """The section's settings as command-line flags: `--key`/`--no-key` for booleans,
    strings verbatim, other values as JSON."""
    config = Config().from_disk(PRESETS / f"{preset}.cfg", interpolate=True)
    return [_flag(key, value) for key, value in config.get(section, {}).items()]


def _flag(key: str, value: object) -> str:
    if isinstance(value, bool):
        return f"--{key}" if value else f"--no-{key}"
    return f"--{key}={value if isinstance(value, str) else json.dumps(value)}"


def main(
    ctx: typer.Context,
    preset: str = typer.Argument(..., help="Preset name: tiny, demo or full"),
    section: str = typer.Argument(..., help="Section of the preset for this step"),
) -> None:
    """Run the command given after PRESET SECTION with the preset's flags added."""
    command = list(ctx.args)
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable
    command += preset_flags(preset, section)
    typer.echo(f"Running: {' '.join(command)}")
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    app = typer.Typer(add_completion=False)
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(main)
    app()
