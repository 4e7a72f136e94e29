"""Copy the project's assets from a local mirror of their public origins.

A mirror holds each asset at its path below `assets/` (a folder asset may be a
`NAME.tar.gz` archive there). Checksums from project.yml are verified. Without a
mirror, `spacy project assets` downloads the same files from their origins.
"""
import shutil
import tarfile
from pathlib import Path

import typer
from weasel.util import get_checksum, load_project_config


def copy_folder(source: Path, dest: Path) -> None:
    """Copy a folder asset from the mirror, unpacking `NAME.tar.gz` when that is what it holds."""
    archive = source / f"{source.name}.tar.gz"
    if archive.exists():
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    else:
        shutil.copytree(source, dest, dirs_exist_ok=True)


def main(
    mirror: Path = typer.Argument(..., help="Local mirror folder, laid out like assets/"),
    project_dir: Path = typer.Option(Path("."), help="The project folder (holding project.yml)"),
) -> None:
    """Copy each asset of project.yml that is not there yet from the mirror, checking its md5.

    Assets marked `extra` (other corpora and tasks) are copied when the mirror has them.
    """
    assets = load_project_config(project_dir)["assets"]
    missing = []
    for asset in assets:
        dest = project_dir / asset["dest"]
        source = mirror / Path(asset["dest"]).relative_to("assets")
        if dest.exists():
            continue
        if not source.exists():
            if not asset.get("extra"):
                missing.append(asset["dest"])
            continue
        if "git" in asset:
            copy_folder(source, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        if asset.get("checksum") and get_checksum(dest) != asset["checksum"]:
            if dest.is_dir():
                shutil.rmtree(dest)
            else:
                dest.unlink()
            raise typer.BadParameter(f"{source} is not the asset {asset['dest']}: its md5 differs")
        typer.echo(f"{asset['dest']} <- {source}")
    if missing:
        typer.echo(
            f"Not in the mirror {mirror}: {', '.join(missing)}.\n"
            "Download them from their public origins with `python -m spacy project assets`.",
            err=True,
        )
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
