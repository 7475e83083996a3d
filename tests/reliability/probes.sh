#!/usr/bin/env bash
# Reliability probes: the cwd-bench binary fed what a careless or hostile user feeds it (bad
# records, full disks, special files, diverging runs, two runs on one folder, bad flags,
# signals), each case asserting the exit status, the one error line, and the state of the
# folders afterwards (no temporary files, no half-written table, nothing outside --out).
#
#   tests/reliability/probes.sh BINARY CASE FIXTURE_DIR
#
# CASE "setup" makes FIXTURE_DIR/cmp, a finished smoke comparison the other cases copy. ctest
# runs every case (label "reliability", docs/reliability.md); exit 77 means skipped (e.g. the
# full-disk case needs root to mount a small tmpfs).
set -uo pipefail

BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
CASE="$2"
FIX="$3"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cwd-probe-$CASE.XXXXXX")"
cleanup() {
  for m in "$WORK"/disk*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
ERR="$WORK/stderr"
OUT="$WORK/stdout"
STEP=""

fail() {
  echo "FAIL [$CASE${STEP:+ / $STEP}]: $*" >&2
  echo "--- stderr of the last command:" >&2
  cat "$ERR" >&2 2>/dev/null
  exit 1
}

# run EXPECTED_STATUS ARGS...: the binary with ARGS (stdout and stderr kept apart).
run() {
  local want="$1"
  shift
  timeout 300 "$BIN" "$@" >"$OUT" 2>"$ERR"
  local got=$?
  [ "$got" -eq "$want" ] || fail "exit status $got, expected $want: cwd-bench $*"
}

# The last command's stderr has exactly one error line, matching REGEX, and no crash output.
one_error() {
  local n
  n="$(grep -c -i -E 'error' "$ERR")"
  [ "$n" -eq 1 ] || fail "expected one error line, got $n"
  grep -q -E -- "$1" "$ERR" || fail "the error line does not match: $1"
  ! grep -q -E 'terminate called|frame #|Segmentation|libpng|Exception raised|Aborted' "$ERR" || fail "crash output"
}

# No temporary files of the atomic writer below DIR.
no_temp() {
  local left
  left="$(find "$1" -name '*.tmp.*' 2>/dev/null)"
  [ -z "$left" ] || fail "temporary files left: $left"
}

copy_fixture() {
  [ -f "$FIX/cmp/table.json" ] || fail "fixture $FIX/cmp missing (run the setup case first)"
  rm -rf "$1" && cp -r "$FIX/cmp" "$1"
}

tables_sum() { cat "$1"/table.json "$1"/table.md "$1"/table.csv 2>/dev/null | md5sum; }

SMOKE=(--preset smoke --threads 2)

case "$CASE" in
setup)
  rm -rf "$FIX/cmp" && mkdir -p "$FIX"
  run 0 compare "${SMOKE[@]}" --out "$FIX/cmp"
  ;;

1-placement)
  # A record whose loss block names a map that does not exist, or contradicts its config.
  for variant in weird feature; do
    STEP="$variant"
    copy_fixture d
    rm -f d/table.*
    perl -0pi -e "s/(\"loss\": \\{.*?\"placement\": )\"logit\"/\$1\"$variant\"/s" d/cwd-logit-s0.json
    run 1 compare --from d
    one_error "cwd-logit-s0.json.*placement"
    [ ! -e d/table.json ] && [ ! -e d/table.md ] && [ ! -e d/table.csv ] || fail "table files written"
  done
  ;;

2-full-disk)
  [ "$(id -u)" -eq 0 ] || { echo "skipped: needs root to mount a small tmpfs"; exit 77; }
  mkdir disk && mount -t tmpfs -o size=8m tmpfs disk 2>/dev/null || { echo "skipped: cannot mount tmpfs here"; exit 77; }
  STEP="first checkpoint"
  run 0 train "${SMOKE[@]}" --out disk/run --stop-after 6
  dd if=/dev/zero of=disk/fill bs=64k 2>/dev/null
  STEP="second checkpoint on a full disk"
  run 1 train "${SMOKE[@]}" --out disk/run
  one_error "no space left on the device writing 'disk/run/ckpt/student-s0.safetensors'"
  no_temp disk
  rm disk/fill
  STEP="resume from the checkpoint that was kept"
  run 0 train "${SMOKE[@]}" --out disk/run
  grep -q "resuming at iteration 6" "$ERR" || fail "did not resume from iteration 6"
  rm -rf disk/run
  dd if=/dev/zero of=disk/fill bs=64k 2>/dev/null
  STEP="compare on a full disk"
  run 1 compare "${SMOKE[@]}" --out disk/cmp
  one_error "no space left on the device"
  no_temp disk
  ;;

3-special-files)
  rec="$FIX/cmp/student-s0.json"
  mkfifo fifo
  echo keep >target && ln -s target link
  STEP="FIFO"
  run 1 eval "$rec" --threads 2 --out fifo
  one_error "'fifo' exists and is a FIFO"
  [ -p fifo ] || fail "the FIFO was replaced"
  STEP="symbolic link"
  run 1 eval "$rec" --threads 2 --out link
  one_error "'link' exists and is a symbolic link; cwd-bench does not write through links"
  [ -L link ] && [ "$(cat target)" = keep ] || fail "the link or its target changed"
  STEP="folder"
  mkdir dir
  run 1 eval "$rec" --threads 2 --out dir
  one_error "'dir' exists and is a folder"
  if [ "$(id -u)" -eq 0 ] && mknod full c 1 7 2>/dev/null; then
    STEP="character device"
    run 1 eval "$rec" --threads 2 --out full
    one_error "'full' exists and is a character device"
    [ -c full ] || fail "the device was replaced"
  fi
  ;;

4-nan)
  STEP="train"
  run 1 train "${SMOKE[@]}" --out d --lr 1e10
  one_error "run 'student-s0' diverged at iteration [0-9]+: the (cross-entropy term is|weights hold|network output hold) (nan|inf|-inf)"
  grep -q '"diverged"' d/student-s0.json || fail "the record does not say it diverged"
  grep -q '"eval": null' d/student-s0.json || fail "the record holds an evaluation"
  [ ! -e d/weights/student-s0.safetensors ] || fail "weights exported"
  STEP="compare"
  run 3 compare "${SMOKE[@]}" --out c --teacher "$FIX/cmp/teacher.json" --methods cwd,pi \
    --loss-opt weight=1e30
  grep -q -E "^cwd-bench: 2 runs diverged \(cwd-logit-s0.json, pi-logit-s0.json\)" "$ERR" || fail "no summary line"
  grep -q "2 runs diverged" c/table.md || fail "table.md does not list them"
  grep -q "| CWD | .* | – | diverged (1 of 1 runs) |" c/table.md || fail "table.md does not mark the row"
  grep -q '"diverged": \[' c/table.json || fail "table.json does not list them"
  no_temp c
  ;;

5-lock)
  "$BIN" compare "${SMOKE[@]}" --out d >first.out 2>first.err &
  first=$!
  for _ in $(seq 300); do grep -q "pid $first" d/.cwd-bench.lock 2>/dev/null && break; sleep 0.1; done
  grep -q "pid $first" d/.cwd-bench.lock || fail "the first compare did not take the lock"
  STEP="second compare on the same folder"
  run 1 compare "${SMOKE[@]}" --out d --seeds 2
  one_error "'d' is in use by another cwd-bench \(pid $first, since .*compare.*\); wait for it to finish or choose another --out"
  STEP="train into the same folder"
  run 1 train "${SMOKE[@]}" --out d --name other
  one_error "'d' is in use by another cwd-bench \(pid $first"
  wait "$first" || { cat first.err; fail "the first compare failed"; }
  STEP="released by kill -9"
  "$BIN" compare "${SMOKE[@]}" --out e >/dev/null 2>&1 &
  killed=$!
  for _ in $(seq 300); do grep -q "pid $killed" e/.cwd-bench.lock 2>/dev/null && break; sleep 0.1; done
  kill -9 "$killed"
  wait "$killed" 2>/dev/null
  run 0 compare "${SMOKE[@]}" --out e
  ;;

6-records)
  STEP="baseline"
  copy_fixture d
  run 0 compare --from d
  before="$(tables_sum d)"
  check_rejected() {  # REGEX: compare --from fails with it and leaves the tables as they were
    run 1 compare --from d
    one_error "$1"
    [ "$(tables_sum d)" = "$before" ] || fail "tables changed"
    copy_fixture d
  }
  STEP="truncated"; head -c 200 "$FIX/cmp/cwd-logit-s0.json" >d/cwd-logit-s0.json
  check_rejected "'d/cwd-logit-s0.json' is not valid JSON"
  STEP="empty"; : >d/cwd-logit-s0.json
  check_rejected "'d/cwd-logit-s0.json' is not valid JSON"
  STEP="binary"; head -c 512 /dev/urandom >d/cwd-logit-s0.json
  check_rejected "'d/cwd-logit-s0.json' is not valid JSON"
  STEP="NaN mIoU"; perl -0pi -e 's/("eval": \{.*?"miou": )[-0-9.e+]+/${1}NaN/s' d/cwd-logit-s0.json
  check_rejected "'d/cwd-logit-s0.json' is not valid JSON"
  STEP="mIoU 1e6"; perl -0pi -e 's/("eval": \{.*?"miou": )[-0-9.e+]+/${1}1000000.0/s' d/cwd-logit-s0.json
  check_rejected "cwd-logit-s0.json': eval.miou is 1000000, outside 0..100"
  STEP="unknown loss"; perl -pi -e 's/"cwd"/"xyz"/g' d/cwd-logit-s0.json
  check_rejected "'cwd-logit-s0.json' uses loss 'xyz', which this cwd-bench does not know"
  STEP="duplicate under another name"; cp d/cwd-logit-s0.json d/copy.json
  check_rejected "is cwd on the logit map, seed 0 again"
  STEP="another schedule"
  rm d/ckpt/cwd-logit-s0.safetensors  # the run is replaced by one of 8 iterations
  timeout 300 "$BIN" train "${SMOKE[@]}" --out d --loss cwd --teacher d/teacher.json --iters 8 >/dev/null 2>&1 ||
    fail "training the 8-iteration run failed"
  check_rejected "'cwd-logit-s0.json' was trained under another schedule than .*iterations: 8 against 12"
  STEP="not a run record"
  echo null >d/other.json
  echo '{"schema": "someone-else/1"}' >d/foreign.json
  run 0 compare --from d
  grep -q "warning: skipping 'd/other.json': not a cwd-bench run record (no schema)" "$ERR" || fail "no warning for null"
  grep -q "warning: skipping 'd/foreign.json': not a cwd-bench run record (schema 'someone-else/1')" "$ERR" ||
    fail "no warning for a foreign schema"
  [ "$(tables_sum d)" = "$before" ] || fail "tables differ"
  ;;

7-teacher)
  STEP="missing teacher"
  run 1 compare "${SMOKE[@]}" --out d --teacher "$WORK/none.json"
  one_error "compare --teacher '.*none.json' not found"
  [ ! -e d ] || fail "the output folder was created"
  STEP="checkpoint as teacher"
  run 1 compare "${SMOKE[@]}" --out d --teacher "$FIX/cmp/ckpt/teacher.safetensors"
  one_error "give the teacher's run record \(.json\)"
  STEP="teacher outside --out"
  run 0 compare "${SMOKE[@]}" --out d --teacher "$FIX/cmp/teacher.json" --methods cwd
  grep -q "^| Teacher " d/table.md || fail "no teacher row"
  [ ! -e d/teacher.json ] || fail "a teacher was trained"
  ;;

8-flags)
  for args in "--lr nan|--lr: 'nan' is not valid: use a finite number > 0" \
    "--width nan|--width: 'nan' is not valid: use a number > 0 and <= 4" \
    "--iters 99999999999999999999|--iters: '99999999999999999999' is not valid: use an integer from 1 to 1000000000" \
    "--seed 99999999999999999999|--seed: '99999999999999999999' is not valid: use an integer from 0 to 9007199254740991" \
    "--num-classes 0|--num-classes: '0' is not valid: use an integer from 1 to 255" \
    "--batch -3|--batch: '-3' is not valid: use an integer from 1 to 1000000000"; do
    STEP="${args%%|*}"
    # shellcheck disable=SC2086
    run 105 train "${SMOKE[@]}" --out d ${args%%|*}
    one_error "${args#*|}"
    [ ! -e d ] || fail "the output folder was created"
  done
  ;;

9-batch)
  STEP="batch larger than the split"
  run 1 train "${SMOKE[@]}" --out d --batch 100000
  one_error "--batch 100000 is more than the 48 images of the training split; use at most 48"
  STEP="crop beyond any size"
  run 1 train "${SMOKE[@]}" --out d --crop 100000x100000
  one_error "--crop '100000x100000' is not a size"
  STEP="crops that cannot fit in memory"
  run 1 train "${SMOKE[@]}" --out d --crop 16384x16384 --batch 48
  one_error "a batch of 48 crops of 16384x16384 needs more than .* GiB, and this machine has .* GiB; lower --batch or --crop"
  [ ! -e d/ckpt ] || fail "training started"
  ;;

10-name)
  mkdir -p a/b
  for name in ../../escape a/b .hidden; do
    STEP="--name '$name'"
    run 1 train "${SMOKE[@]}" --out a/b/out --name "$name"
    one_error "is not a run name"
  done
  [ -z "$(find a -name '*.json')" ] || fail "a record was written"
  [ ! -e a/b/out ] || fail "the output folder was created"
  ;;

11-leftovers)
  STEP="stale temporary file of a dead process"
  run 0 train "${SMOKE[@]}" --out d --stop-after 6
  sleep 0 &
  dead=$!
  wait "$dead"
  cp d/ckpt/student-s0.safetensors "d/ckpt/student-s0.safetensors.tmp.$dead"
  run 0 train "${SMOKE[@]}" --out d
  grep -q "removed 1 temporary file left by a process that died in d/ckpt" "$ERR" || fail "not reported"
  no_temp d
  for sig in INT TERM; do
    STEP="SIG$sig"
    rm -rf s
    "$BIN" train "${SMOKE[@]}" --out s --iters 2000 --checkpoint-every 1000 --log-every 2 >/dev/null 2>"$ERR" &
    pid=$!
    for _ in $(seq 600); do grep -q "iter [0-9]*/2000" "$ERR" && break; sleep 0.05; done
    kill -"$sig" "$pid"
    wait "$pid"
    status=$?
    [ "$status" -eq 130 ] || fail "exit status $status, expected 130"
    last="$(tail -n 1 "$ERR")"
    [[ "$last" =~ ^cwd-bench:\ interrupted\ at\ iteration\ ([0-9]+)\;\ rerun\ to\ resume$ ]] || fail "last line: $last"
    at="${BASH_REMATCH[1]}"
    no_temp s
    run 0 train "${SMOKE[@]}" --out s --iters 2000 --checkpoint-every 1000 --stop-after $((at + 2))
    grep -q "resuming at iteration $at" "$ERR" || fail "did not resume at iteration $at"
  done
  ;;

12-minor)
  run 0 data export --preset smoke --out data --splits train,val
  folder=(--data folder --data-root data --num-classes 11)
  STEP="a bad label in the val split"
  first_val="$(ls data/labels/val | head -n 1)"
  cp "data/images/val/${first_val%.png}".* "data/labels/val/$first_val" 2>/dev/null ||
    cp "$(ls -d data/images/val/* | head -n 1)" "data/labels/val/$first_val"
  run 1 train "${SMOKE[@]}" "${folder[@]}" --out d
  one_error "label 'data/labels/val/$first_val' has 3 channel"
  ! grep -q "iter " "$ERR" || fail "training started before the check"
  [ ! -e d/ckpt ] || fail "a checkpoint was written"
  STEP="a truncated PNG"
  rm -rf data && run 0 data export --preset smoke --out data --splits train,val
  head -c 120 "data/labels/val/$first_val" >t.png && mv t.png "data/labels/val/$first_val"
  run 1 train "${SMOKE[@]}" "${folder[@]}" --out d
  one_error "cannot read image 'data/labels/val/$first_val' \(a damaged PNG file: truncated"
  STEP="safetensors shape that overflows"
  header='{"conv1.weight":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}'
  printf "$(printf '\\x%02x' $(( ${#header} )) 0 0 0 0 0 0 0)%s" "$header" >big.safetensors
  head -c 16 /dev/zero >>big.safetensors
  run 1 train "${SMOKE[@]}" --out d --backbone-weights big.safetensors
  one_error "'big.safetensors'.*shape \[4294967296, 4294967296\] needs more bytes than the file holds"
  ;;

*)
  echo "unknown case '$CASE'" >&2
  exit 2
  ;;
esac
echo "ok [$CASE]"
