#!/usr/bin/env bash
# Runs a cwd-bench plan on a Slurm cluster. The plan (`cwd-bench compare ... --plan FILE`) lists
# the units of a comparison; this submits three jobs:
#   1. the teacher unit (when the plan trains one), one job;
#   2. every other unit, ONE array job whose task ids are the unit indices, after the teacher
#      succeeded (afterok);
#   3. the table, `cwd-bench compare --from OUT_DIR`, after every unit succeeded.
# Each unit job runs `cwd-bench run-unit --plan FILE --index I --threads C` with C = the CPUs it
# asked for (--cpus-per-unit), so units on one node do not fight over cores. Jobs whose
# dependency failed are cancelled by Slurm (--kill-on-invalid-dep=yes) instead of pending
# forever. The plan's out_dir (records, checkpoints, OUT_DIR/slurm/*.out logs) must be on a
# file system the compute nodes share.
#
#   cwd-bench compare --preset quick --out /shared/runs/quick --plan /shared/runs/quick.json
#   scripts/slurm/submit.sh --plan /shared/runs/quick.json --partition gpu --gpus-per-unit 1 \
#     --cpus-per-unit 8 --time 02:00:00 --wait
#
# Options:
#   --plan FILE           the plan (required)
#   --partition P         partition of every job (default: the cluster's default partition)
#   --gpus-per-unit N     GPUs of each unit job; N > 0 adds --gres=gpu:N and runs the units
#                         with --device cuda (default 0: CPU)
#   --cpus-per-unit N     CPUs of each unit job, and its --threads (default 1)
#   --time T              time limit of every job (sbatch --time syntax, e.g. 02:00:00)
#   --exe PATH            the cwd-bench binary the jobs run (default: the one that wrote the plan)
#   --wait                wait until the table job ends; exit 1 if any job failed
#   --extra "ARGS"        more sbatch arguments for every job, e.g. --extra "--account=vision --qos=short"
# Prints the job ids. Without an accounting database (sacct), --wait reads job states from
# scontrol, which keeps finished jobs for MinJobAge (300 s by default): it polls every
# CWD_SLURM_POLL seconds (default 10).
set -euo pipefail

prog="submit.sh"
readonly bad_states="FAILED CANCELLED TIMEOUT NODE_FAIL BOOT_FAIL OUT_OF_MEMORY DEADLINE PREEMPTED"
readonly done_states="COMPLETED $bad_states"
# Pending reasons that waiting does not cure: a failed dependency, or a request the partition
# can never meet (more CPUs, GPUs or time than it has, an account or QOS that does not exist).
readonly never_reasons="DependencyNeverSatisfied BadConstraints PartitionConfig PartitionNodeLimit PartitionTimeLimit InvalidAccount InvalidQOS"

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

plan="" partition="" gpus=0 cpus=1 time_limit="" exe="" wait=0 extra_args=""

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --plan | --partition | --gpus-per-unit | --cpus-per-unit | --time | --exe | --extra)
        [[ $# -ge 2 ]] || die "$1 needs a value (see $0 --help)"
        case "$1" in
          --plan) plan="$2" ;;
          --partition) partition="$2" ;;
          --gpus-per-unit) gpus="$2" ;;
          --cpus-per-unit) cpus="$2" ;;
          --time) time_limit="$2" ;;
          --exe) exe="$2" ;;
          --extra) extra_args="$2" ;;
        esac
        shift 2
        ;;
      --wait)
        wait=1
        shift
        ;;
      -h | --help) usage ;;
      *) die "unknown argument '$1' (see $0 --help)" ;;
    esac
  done
  [[ -n "$plan" ]] || die "no plan given; write one with: cwd-bench compare ... --out DIR --plan FILE, then pass --plan FILE"
  [[ "$gpus" =~ ^[0-9]+$ ]] || die "--gpus-per-unit must be a whole number, not '$gpus'"
  [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "--cpus-per-unit must be a positive whole number, not '$cpus'"
}

check_slurm() {
  local cmd
  for cmd in sbatch scontrol scancel python3; do
    command -v "$cmd" > /dev/null ||
      die "$cmd not found on PATH; run this on a Slurm login node (or start a test cluster: scripts/slurm/local_cluster.sh start)"
  done
}

# Reads the plan: sets out_dir, plan_exe, first (units others depend on: the teacher), rest
# (the other units, as an array spec like 1-8) and label[I]. The checks name the fix.
read_plan() {
  [[ -f "$plan" ]] || die "plan file $plan not found; write it with: cwd-bench compare ... --out DIR --plan $plan"
  plan="$(cd "$(dirname "$plan")" && pwd)/$(basename "$plan")"
  local lines
  lines="$(python3 - "$plan" << 'EOF'
import json, shlex, sys
path = sys.argv[1]
def fail(msg):
    print(f"ERROR {msg}")
    sys.exit(0)
try:
    plan = json.load(open(path))
except (OSError, ValueError) as e:
    fail(f"plan file {path} is not JSON ({e}); write it again with: cwd-bench compare ... --plan {path}")
if not isinstance(plan, dict) or not str(plan.get("schema", "")).startswith("cwd-bench/plan/"):
    fail(f"{path} is not a cwd-bench plan (no schema cwd-bench/plan/...); write one with: cwd-bench compare ... --plan FILE")
units = plan.get("units")
if not isinstance(units, list) or not units:
    fail(f"plan {path} has no units; write it again with: cwd-bench compare --preset P --out DIR --plan {path}")
if not plan.get("out_dir"):
    fail(f"plan {path} has no out_dir; write it again with cwd-bench compare ... --plan {path}")
try:
    index = {int(u["index"]): u for u in units}
    deps = {i: [int(d) for d in u.get("depends_on", [])] for i, u in index.items()}
except (KeyError, TypeError, ValueError) as e:
    fail(f"plan {path} has a unit without a valid index or depends_on ({e}); write it again")
first = sorted({d for ds in deps.values() for d in ds})
rest = sorted(i for i in index if i not in first)
if any(d not in index for d in first) or any(deps[i] for i in first):
    fail(f"plan {path} has dependencies this script cannot submit (a unit that others depend on depends on another); "
         "submit.sh handles one stage of teachers and the units after it")
def spec(ids):  # 1,2,3,5 -> 1-3,5
    out, start = [], None
    for k, i in enumerate(ids):
        if start is None: start = i
        if k + 1 == len(ids) or ids[k + 1] != i + 1:
            out.append(str(start) if start == i else f"{start}-{i}")
            start = None
    return ",".join(out)
command = str(units[0].get("command", "")) if isinstance(units[0], dict) else ""
exe = plan.get("exe") or (shlex.split(command)[0] if command.strip() else "")
print("OUT_DIR", plan["out_dir"])
print("EXE", exe)
print("FIRST", " ".join(map(str, first)))
print("REST", spec(rest))
print("NREST", len(rest))
for i, u in sorted(index.items()):
    print("LABEL", i, " ".join(str(u.get("label", u.get("kind", ""))).split()))
EOF
)" || die "python3 could not read the plan $plan"
  local key value
  while IFS=' ' read -r key value; do
    case "$key" in
      ERROR) die "$value" ;;
      OUT_DIR) out_dir="$value" ;;
      EXE) plan_exe="$value" ;;
      FIRST) read -r -a first <<< "$value" ;;
      REST) rest="$value" ;;
      NREST) n_rest="$value" ;;
      LABEL) label[${value%% *}]="${value#* }" ;;
    esac
  done <<< "$lines"
}

# The binary: --exe, else the plan's exe (the binary that wrote it); absolute, for the compute
# nodes.
resolve_exe() {
  local e="${exe:-$plan_exe}"
  [[ -n "$e" ]] || die "the plan names no cwd-bench binary; pass --exe PATH"
  if [[ "$e" != */* ]]; then
    e="$(command -v "$e")" || die "cwd-bench binary '${exe:-$plan_exe}' not found on PATH; pass --exe PATH"
  fi
  [[ -x "$e" ]] || die "cwd-bench binary $e is not there or not executable; build it (cmake --build build) or pass --exe PATH"
  exe="$(cd "$(dirname "$e")" && pwd)/$(basename "$e")"
}

# sbatch arguments of every job.
common_args() {
  # --chdir: the submit folder may not exist on the compute nodes; out_dir is shared.
  local -a a=(--parsable --kill-on-invalid-dep=yes --chdir="$out_dir")
  [[ -n "$partition" ]] && a+=(--partition="$partition")
  [[ -n "$time_limit" ]] && a+=(--time="$time_limit")
  printf '%s\n' "${a[@]}" "${extra[@]}"
}

# The batch script of a unit job; INDEX is a number or "$SLURM_ARRAY_TASK_ID".
unit_script() {
  local index="$1" cmd
  printf -v cmd '%q ' "$exe" run-unit --plan "$plan"
  cmd+="--index $index --threads $cpus"
  ((gpus > 0)) && cmd+=" --device cuda"
  printf '#!/bin/bash\n# A cwd-bench unit, submitted by scripts/slurm/submit.sh.\nset -euo pipefail\nexec %s\n' "$cmd"
}

table_script() {
  local cmd
  printf -v cmd '%q ' "$exe" compare --from "$out_dir"
  printf '#!/bin/bash\n# The cwd-bench table, submitted by scripts/slurm/submit.sh.\nset -euo pipefail\nexec %s\n' "$cmd"
}

submitted=()

# submit WHAT SCRIPT SBATCH_ARGS...: sets job_id. A refused job cancels the ones already
# submitted, so nothing is left waiting on a job that will never exist.
submit() {
  local what="$1" script="$2" out err
  shift 2
  local -a common
  mapfile -t common < <(common_args)
  err="$(mktemp)"
  if ! out="$(sbatch "${common[@]}" "$@" <<< "$script" 2> "$err")"; then
    local msg
    msg="$(grep -v '^$' "$err" | tail -n 1)"
    rm -f "$err"
    [[ ${#submitted[@]} -gt 0 ]] && scancel "${submitted[@]}" 2> /dev/null
    die "sbatch refused the $what job: ${msg:-no message}${submitted[*]:+ (cancelled jobs ${submitted[*]})}"
  fi
  rm -f "$err"
  job_id="${out%%;*}" # --parsable prints ID or ID;CLUSTER
  submitted+=("$job_id")
}

unit_resources() {
  printf '%s\n' --ntasks=1 --cpus-per-task="$cpus"
  ((gpus > 0)) && printf '%s\n' --gres=gpu:"$gpus"
  return 0
}

submit_all() {
  local logs="$out_dir/slurm" dep=() res
  mkdir -p "$logs" || die "cannot make the log folder $logs; check the plan's out_dir"
  mapfile -t res < <(unit_resources)
  teacher_job="" units_job=""
  if [[ ${#first[@]} -eq 1 ]]; then
    submit teacher "$(unit_script "${first[0]}")" "${res[@]}" \
      --job-name=cwd-teacher --output="$logs/%x-%j.out"
    teacher_job="$job_id"
    echo "teacher: job $teacher_job (unit ${first[0]}, ${label[${first[0]}]})"
  elif [[ ${#first[@]} -gt 1 ]]; then
    local spec
    spec="$(IFS=,; echo "${first[*]}")"
    # shellcheck disable=SC2016 # the task id is expanded in the job, not here
    submit teacher "$(unit_script '"$SLURM_ARRAY_TASK_ID"')" "${res[@]}" \
      --job-name=cwd-teacher --array="$spec" --output="$logs/%x-%A_%a.out"
    teacher_job="$job_id"
    echo "teachers: job $teacher_job (array $spec)"
  fi
  [[ -n "$teacher_job" ]] && dep=(--dependency=afterok:"$teacher_job")
  if ((n_rest > 0)); then
    # shellcheck disable=SC2016 # the task id is expanded in the job, not here
    submit units "$(unit_script '"$SLURM_ARRAY_TASK_ID"')" "${res[@]}" "${dep[@]}" \
      --job-name=cwd-units --array="$rest" --output="$logs/%x-%A_%a.out"
    units_job="$job_id"
    echo "units: job $units_job (array $rest: $n_rest units)"
    dep=(--dependency=afterok:"$units_job")
  fi
  submit table "$(table_script)" --ntasks=1 --cpus-per-task=1 "${dep[@]}" \
    --job-name=cwd-table --output="$logs/%x-%j.out"
  table_job="$job_id"
  echo "table: job $table_job ($out_dir/table.json)"
  echo "logs: $logs/"
  echo "follow: squeue -j $(IFS=,; echo "${submitted[*]}")"
}

# field RECORD NAME: the value of NAME=... in one line of `scontrol show job -o`.
field() {
  [[ " $1" =~ \ $2=([^ ]*) ]] && echo "${BASH_REMATCH[1]}"
}

# What a record is about: "unit I (label)" or "the table".
describe() {
  local rec="$1" id task
  id="$(field "$rec" ArrayJobId)" || id="$(field "$rec" JobId)"
  task="$(field "$rec" ArrayTaskId)" || task=""
  if [[ "$id" == "$table_job" ]]; then
    echo "the table (job $id)"
  elif [[ "$task" =~ [^0-9] ]]; then # pending tasks in one record: 1-4, 2,5-7%2
    echo "units ${task%%%*} (job ${id}_[${task%%%*}])"
  elif [[ -n "$task" ]]; then
    echo "unit $task (${label[$task]:-?}, job ${id}_$task)"
  else
    echo "unit ${first[0]} (${label[${first[0]}]}, job $id)"
  fi
}

# One poll: sets records (one line per job or array task), failures (root causes: jobs that
# ran and failed), stuck (jobs pending for a reason in never_reasons), waiting (the
# jobs, arrays by their id, not ended yet), moving (records running or able to run) and
# table_state.
poll() {
  local id rec st reason
  records="" failures=() stuck=() waiting=() moving=0 table_state=""
  for id in $teacher_job $units_job $table_job; do
    rec="$(scontrol show job -o "$id" 2> /dev/null)" || continue # gone: finished long ago
    records+="$rec"$'\n'
  done
  while IFS= read -r rec; do
    [[ -n "$rec" ]] || continue
    st="$(field "$rec" JobState)"
    reason="$(field "$rec" Reason)" || reason=""
    [[ "$(field "$rec" JobId)" == "$table_job" ]] && table_state="$st"
    if [[ " $done_states " != *" $st "* ]]; then
      id="$(field "$rec" ArrayJobId)" || id="$(field "$rec" JobId)"
      [[ " ${waiting[*]} " == *" $id "* ]] || waiting+=("$id")
    fi
    if [[ "$st" == PENDING && " $never_reasons " == *" $reason "* ]]; then
      stuck+=("$(describe "$rec") ($reason)")
    elif [[ "$reason" == DependencyNeverSatisfied ]]; then
      : # cancelled by Slurm for a failed dependency: not a cause
    elif [[ " $bad_states " == *" $st "* ]]; then
      failures+=("$(describe "$rec") $st, exit $(field "$rec" ExitCode), log $(field "$rec" StdOut)")
    elif [[ " $done_states " != *" $st "* ]] && ! [[ "$st" == PENDING && "$reason" == Dependency ]]; then
      moving=$((moving + 1))
    fi
  done <<< "$records"
}

# A short progress line, printed when it changes: how many jobs and array tasks are in which
# state (a record of pending array tasks, ArrayTaskId=3-9%2, counts each task).
progress() {
  local line
  line="$(awk '{
      n = 1; st = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^JobState=/) st = substr($i, 10)
        if ($i ~ /^ArrayTaskId=/) {
          spec = substr($i, 13); sub(/%.*/, "", spec); n = 0
          k = split(spec, parts, ",")
          for (j = 1; j <= k; j++) { split(parts[j], r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) }
        }
      }
      if (st != "") c[st] += n
    }
    END { for (s in c) printf "%s %d, ", s, c[s] }' <<< "$records" | sed 's/, $//')"
  if [[ "$line" != "${last_progress:-}" ]]; then
    echo "$prog: $(date +%T) jobs: ${line:-none known}" >&2
    last_progress="$line"
  fi
}

# Waits for the table job. Success: it COMPLETED. Failure: a job failed (or can never start)
# and nothing runs or could run any more; the jobs still pending then wait on a failed job
# (Slurm may not have noticed yet), so they are cancelled.
wait_all() {
  local pause="${CWD_SLURM_POLL:-10}" started
  started="$(date +%s)"
  trap 'echo "$prog: stopped waiting; the jobs keep running (scancel ${submitted[*]} stops them)" >&2; exit 130' INT TERM
  while true; do
    poll
    progress
    if [[ "$table_state" == COMPLETED ]]; then
      echo "$prog: all jobs completed; table: $out_dir/table.json"
      return 0
    fi
    if [[ -z "$table_state" ]]; then
      # Slurm forgot the table job (it ended more than MinJobAge ago): its output decides.
      [[ -f "$out_dir/table.json" && "$(stat -c %Y "$out_dir/table.json")" -ge "$started" ]] &&
        { echo "$prog: table job ended; table: $out_dir/table.json"; return 0; }
      die "Slurm no longer knows the table job $table_job and $out_dir/table.json was not written; see the logs in $out_dir/slurm/"
    fi
    if [[ ${#failures[@]} -gt 0 || ${#stuck[@]} -gt 0 ]] && ((moving == 0)); then
      [[ ${#waiting[@]} -gt 0 ]] && scancel "${waiting[@]}" 2> /dev/null
      local what
      if [[ ${#failures[@]} -gt 0 ]]; then
        what="$(printf '%s; ' "${failures[@]}")"
        what="${what%; }"
      else
        what="$(printf '%s; ' "${stuck[@]}")"
        what="${what%; } can never start (a job they need failed, or they ask more than the partition has: compare --cpus-per-unit, --gpus-per-unit and --time with scontrol show partition)"
      fi
      die "failed: ${what}; the table was not made${waiting[*]:+ (cancelled jobs ${waiting[*]})}; fix the cause and submit the plan again"
    fi
    sleep "$pause"
  done
}

main() {
  parse_args "$@"
  check_slurm
  declare -g out_dir="" plan_exe="" rest="" n_rest=0 first=() label=() extra=()
  read_plan
  resolve_exe
  mapfile -t extra < <(python3 -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$extra_args") ||
    die "--extra '$extra_args' is not a valid list of arguments"
  [[ ${#extra[@]} -eq 1 && -z "${extra[0]}" ]] && extra=()
  submit_all
  ((wait)) || return 0
  wait_all
}

main "$@"
