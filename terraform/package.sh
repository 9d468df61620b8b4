#!/usr/bin/env bash
# Builds what terraform deploys, into target/lambda/ (terraform's artifacts_dir):
#   <fn>/bootstrap.zip            one per Lambda (cargo lambda, profile `lambda`)
#   config.zip                    the layer: rules/ and the RDS certificate bundle
#   expect-filter-policy.json     the expect queue's SNS filter policy for those rules
#   dashboard/                    the dashboard's built files (S3 behind CloudFront)
#
#   terraform/package.sh [--x86_64] [--rules DIR]
#
# arm64 by default (set architecture = "x86_64" in terraform.tfvars with --x86_64).
# Needs cargo-lambda and Zig: pip install cargo-lambda ziglang (into a virtualenv is fine;
# put its bin/ on PATH). The RDS bundle is downloaded once into terraform/rds-ca.pem.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=(--arm64)
rules=rules
while [ $# -gt 0 ]; do
  case "$1" in
    --x86_64) arch=(); shift ;;
    --rules) rules="$2"; shift 2 ;;
    *) echo "usage: terraform/package.sh [--x86_64] [--rules DIR]" >&2; exit 2 ;;
  esac
done

need() { echo "error: $*" >&2; exit 1; }
command -v cargo-lambda >/dev/null ||
  need "cargo-lambda not found: pip install cargo-lambda ziglang (then put the virtualenv's bin/ on PATH)"

out="${CARGO_TARGET_DIR:-target}/lambda"
mkdir -p "$out"

# Every Lambda binary of functions/ (terraform's functions map has the same names).
functions=( ingest query ack relay decide expect notify record advise push migrate ops archive )
# One build per function, not one for all: Cargo unifies the features of the packages a
# build selects, so only a build of its own package leaves out the SDKs (and the local
# adapters) a function does not use (tests/deployment.rs checks what each links).
for f in "${functions[@]}"; do
  pkg="helios-$f"
  [ "$f" = ack ] && pkg=helios-record
  # The library helios-archive writes the Parquet files; the function's package is -fn.
  [ "$f" = archive ] && pkg=helios-archive-fn
  echo "== building $f ($pkg, ${arch[*]:-x86_64})"
  cargo lambda build --profile lambda --output-format zip "${arch[@]}" -p "$pkg" --bin "$f"
done
for f in "${functions[@]}"; do
  [ -f "$out/$f/bootstrap.zip" ] || need "cargo lambda made no $out/$f/bootstrap.zip"
done

# The RDS certificate bundle: functions verify the database's certificate against it.
ca=terraform/rds-ca.pem
if [ ! -s "$ca" ]; then
  echo "== downloading the RDS certificate bundle"
  curl -fsSL -o "$ca" https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem ||
    need "could not download https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem into $ca"
fi

echo "== checking the rule set $rules"
cargo run --quiet --release --bin helios -- rules check "$rules"
cargo run --quiet --release --bin helios -- rules filter-policy "$rules" > "$out/expect-filter-policy.json"
# `null`: the expectations watch every event; terraform then sets no filter.
if [ "$(tr -d '[:space:]' < "$out/expect-filter-policy.json")" = "null" ]; then
  rm "$out/expect-filter-policy.json"
fi

echo "== config layer"
python3 - "$rules" "$ca" "$out/config.zip" <<'PY'
import os, sys, zipfile
rules, ca, dest = sys.argv[1:]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
    for base, dirs, names in os.walk(rules):
        dirs[:] = sorted(d for d in dirs if d != "tests")
        for n in sorted(names):
            if n.endswith((".yaml", ".yml")):
                path = os.path.join(base, n)
                z.write(path, os.path.join("rules", os.path.relpath(path, rules)))
    z.write(ca, "rds-ca.pem")
PY

# The dashboard's files (built by the CLI's build script, above), for the dashboard module.
echo "== dashboard"
[ -s dashboard/dist/index.html ] || need "dashboard/dist/index.html is missing: the release build of helios builds it (node on PATH)"
rm -rf "$out/dashboard"
cp -r dashboard/dist "$out/dashboard"

ls -l "$out"/*/bootstrap.zip "$out/config.zip"
ls -l "$out/dashboard"
