#!/usr/bin/env bash
# Install AWS's Lambda Runtime Interface Emulator (RIE), used by the aws_lambda tests to run
# lithops' real handler without Docker.
#
# The RIE is a static Linux binary that AWS ships inside the aws-sam-cli wheel on PyPI
# (samcli/local/rapid/aws-lambda-rie-x86_64): pip downloads the wheel (no install, no
# dependencies) and the binary is extracted from it.
#
#   tools/emulators/fetch_rie.sh            -> ~/.cache/lithops-emulators/aws-lambda-rie-x86_64
#   LITHOPS_EMULATORS_DIR=DIR tools/emulators/fetch_rie.sh
#   PYTHON=/path/to/python AWS_SAM_CLI_VERSION=1.170.0 tools/emulators/fetch_rie.sh
#
# The tests look for the binary in $LITHOPS_RIE, then in that folder, then on PATH. The runtime
# client it starts, awslambdaric, comes from pip (lithops-aws's test dependency group).
set -euo pipefail

dest="${LITHOPS_EMULATORS_DIR:-$HOME/.cache/lithops-emulators}"
python="${PYTHON:-python3}"
version="${AWS_SAM_CLI_VERSION:-1.170.0}"
binary="aws-lambda-rie-x86_64"

if [ -x "$dest/$binary" ]; then
    echo "$dest/$binary"
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "fetch_rie.sh: the RIE binary is for Linux x86_64; this is $(uname -s)-$(uname -m)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$work" "aws-sam-cli==$version"
mkdir -p "$dest"
"$python" - "$work" "$dest" "$binary" <<'PY'
import pathlib, sys, zipfile

work, dest, binary = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
wheel = next(work.glob("aws_sam_cli-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    data = archive.read(f"samcli/local/rapid/{binary}")
target = dest / binary
partial = target.with_suffix(".partial")
partial.write_bytes(data)
partial.chmod(0o755)
partial.replace(target)
PY
echo "$dest/$binary"
