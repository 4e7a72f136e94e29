#!/usr/bin/env bash
# Check that a trained bertram pipeline packages into a wheel that works without the
# source tree: build the spacy-bertram wheel, package PIPELINE_DIR with `spacy
# package` and meta.json, install both wheels into a fresh venv, and spacy.load the
# pipeline from a folder outside the source tree.
#
# Usage: scripts/check_package.sh PIPELINE_DIR [TEXT]
# Env:   PYTHON  interpreter whose site-packages provide spaCy, torch, ... (default:
#                the one on PATH); the fresh venv reads them through a .pth file, so
#                nothing is downloaded.
#        KEEP=1  keep the work folder (printed at the start).
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1" ]]; then
    echo "usage: $0 PIPELINE_DIR [TEXT]  (PIPELINE_DIR: a folder saved by nlp.to_disk)" >&2
    exit 2
fi
PIPELINE_DIR="$(cd "$1" && pwd)"
TEXT="${2:-The zorblat was surprisingly good.}"
PYTHON="${PYTHON:-python}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d -t bertram-package-XXXXXX)"
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$WORK"' EXIT; fi
echo "work folder: $WORK"

# 1. The spacy-bertram wheel, built from a copy so no build files land in the repo.
#    No build isolation: the calling interpreter's setuptools builds it offline.
mkdir -p "$WORK/src" "$WORK/dist"
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | (cd "$REPO" && xargs -0 tar -cf - --ignore-failed-read) | tar -xf - -C "$WORK/src"
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$WORK/src"

# 2. A fresh venv that borrows the heavy dependencies from the calling interpreter.
"$PYTHON" -m venv --without-pip "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
VENV_SITE="$("$VENV_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
env -u PYTHONPATH "$PYTHON" - "$VENV_SITE/_borrowed_deps.pth" "$REPO" <<'EOF'
import sys, sysconfig
from pathlib import Path

# The caller's import path as resolved (its .pth files applied), as plain path lines:
# no code of theirs runs in the venv, and the source tree (an editable install of
# spacy-bertram) is left out, so spacy_bertram can only come from the wheel.
repo = Path(sys.argv[2]).resolve()
stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
paths = [
    p for p in dict.fromkeys(sys.path)
    if p and Path(p).is_dir() and p not in stdlib and "lib-dynload" not in p
    and Path(p).resolve() != repo  # what an editable install adds; a .venv inside stays
]
with open(sys.argv[1], "w") as pth:
    pth.writelines(f"{p}\n" for p in paths)
EOF
# --ignore-installed: a spacy-bertram seen through the borrowed path must not count.
install() { "$PYTHON" -m pip --python "$VENV_PY" install --quiet --no-deps --no-index --ignore-installed "$@"; }
install "$WORK"/dist/spacy_bertram-*.whl

# 3. The pipeline package. `spacy package` runs in the venv, so the installed
#    spacy-bertram provides the factories; the wheel is then built offline by pip
#    (spaCy's own `--build wheel` needs the `build` or `wheel` package).
mkdir -p "$WORK/package"
(cd "$WORK" && env -u PYTHONPATH "$VENV_PY" -m spacy package "$PIPELINE_DIR" "$WORK/package" \
    --meta-path "$REPO/meta.json" --build none --force)
PACKAGE_SRC="$(dirname "$(ls "$WORK"/package/*/setup.py)")"
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$PACKAGE_SRC"
PACKAGE="$("$VENV_PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); n = m["name"]; print(n if n.startswith(m["lang"] + "_") else m["lang"] + "_" + n)' "$PACKAGE_SRC/meta.json")"
install "$WORK"/dist/"$PACKAGE"-*.whl
echo "built: $(cd "$WORK/dist" && ls *.whl | tr '\n' ' ')"

# 4. Load it by name from a folder outside the source tree.
mkdir -p "$WORK/outside"
cd "$WORK/outside"
env -u PYTHONPATH "$VENV_PY" - "$PACKAGE" "$TEXT" "$REPO" <<'EOF'
import sys
from pathlib import Path

import numpy
import spacy
import spacy_bertram

package, text, repo = sys.argv[1], sys.argv[2], Path(sys.argv[3]).resolve()
if repo in Path(spacy_bertram.__file__).resolve().parents:
    sys.exit(f"spacy_bertram was imported from the source tree {repo}, not the wheel")
nlp = spacy.load(package)
doc = nlp(text)
if not doc._.bertram_vectors:
    sys.exit(f"no rare word with a vector in {text!r}; pass a TEXT with a rare word")
for i, vector in sorted(doc._.bertram_vectors.items()):
    print(f"{package}: rare word {doc[i].text!r} vector norm {numpy.linalg.norm(vector):.4f}")
EOF
