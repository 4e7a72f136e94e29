"""Copy the project's assets from a local mirror of their public origins.

A mirror holds each asset at its path below `assets/` (a folder asset may be a
`NAME.tar.gz` archive there). Checksums from project.yml are verified. Without a
mirror, `spacy project assets` downloads the same files from their origins.
"""
import hashlib
import shutil
import tarfile
from pathlib import Path

import typer
from weasel.util import load_project_config


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as file_:
        for block in iter(lambda: file_.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    extra: bool = typer.Option(False, "--extra", help="Also copy assets marked `extra`"),
) -> None:
    """Copy every asset of project.yml that is missing from the mirror, checking its md5."""
    assets = load_project_config(project_dir)["assets"]
    missing = []
    for asset in assets:
        if asset.get("extra") and not extra:
            continue
        dest = project_dir / asset["dest"]
        source = mirror / Path(asset["dest"]).relative_to("assets")
        if dest.exists():
            continue
        if "git" in asset:
            if not source.exists():
                missing.append(asset["dest"])
                continue
            copy_folder(source, dest)
        else:
            if not source.is_file():
                missing.append(asset["dest"])
                continue
            if asset.get("checksum") and md5(source) != asset["checksum"]:
                raise typer.BadParameter(f"checksum mismatch for {source}: not the asset {asset['dest']}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
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
