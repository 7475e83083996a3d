#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the default comparison (quick preset:
# teacher, baseline student and the six losses on the logit map, three seeds) in runs/<preset>/,
# then says whether it reproduces the committed results/<preset>/ exactly.
# Time on 2 CPU cores: ~25 min the first time (backbone pretraining and the teacher included),
# ~11 min once the pretrained backbones (~/.cache/cwd-bench) and the teacher are there.
# Extra arguments go to `cwd-bench compare`, e.g. scripts/run.sh --preset full
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

preset=quick
out=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --preset) preset="${args[i + 1]:-}" ;;
    --preset=*) preset="${args[i]#--preset=}" ;;
    --out) out="${args[i + 1]:-}" ;;
    --out=*) out="${args[i]#--out=}" ;;
  esac
done
extra=()
[[ " $* " == *" --preset"* ]] || extra+=(--preset "$preset")
if [[ -z "$out" ]]; then
  out="runs/$preset"
  extra+=(--out "$out")
fi
# The committed records of this preset, when there are any, are what the run should reproduce.
if compgen -G "results/$preset/*-s0.json" > /dev/null && [[ " $* " != *" --check-against"* ]]; then
  extra+=(--check-against "results/$preset")
fi
./build/cwd-bench compare "${extra[@]}" "$@"
