#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the default comparison (quick preset:
# teacher, baseline student and eight losses on the logit map, three seeds) in runs/<preset>/,
# then says whether it reproduces the committed results/<preset>/ exactly, and ends with the path
# of the report (figures and the table as a web page, <out>/report/index.html).
# Time on 2 CPU cores, measured with the paper's six losses: 25 min 11 s the first time (backbone
# pretraining and the teacher included), 10 min 53 s once the pretrained backbones
# (~/.cache/cwd-bench) and the teacher are there; DIST and MGD add about 3 min 44 s of training.
# Extra arguments go to `cwd-bench compare`, e.g. scripts/run.sh --preset full
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

# What the arguments already say; the rest gets run.sh's defaults.
preset=quick preset_given=0 out="" out_dir="" check_given=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --preset) preset="${args[i + 1]:-}" preset_given=1 ;;
    --preset=*) preset="${args[i]#--preset=}" preset_given=1 ;;
    --out) out=given out_dir="${args[i + 1]:-}" ;;
    --out=*) out=given out_dir="${args[i]#--out=}" ;;
    --check-against | --check-against=*) check_given=1 ;;
  esac
done
extra=()
((preset_given)) || extra+=(--preset "$preset")
[[ -n "$out" ]] || { extra+=(--out "runs/$preset"); out_dir="runs/$preset"; }
# The committed records of this preset, when there are any, are what the run should reproduce.
if ((!check_given)) && compgen -G "results/$preset/*-s0.json" > /dev/null; then
  extra+=(--check-against "results/$preset")
fi
./build/cwd-bench compare "${extra[@]}" "$@"
if [[ -f "$out_dir/report/index.html" ]]; then
  echo "report: $out_dir/report/index.html"
fi
