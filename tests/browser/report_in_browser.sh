#!/usr/bin/env bash
# ctest browser.report: a smoke comparison writes its report, then headless Chromium opens
# index.html from disk (tests/browser/check_report.py): no console error, every image loaded,
# no request off the disk, a screenshot that is not blank (kept as WORK/screenshot.png).
# Usage: tests/browser/report_in_browser.sh CWD_BENCH_BINARY WORK_DIR
set -euo pipefail
bin="$1" work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$work"
mkdir -p "$work"
"$bin" compare --preset smoke --threads 2 --out "$work/smoke" > "$work/compare.log" 2>&1 ||
  { cat "$work/compare.log"; exit 1; }
python3 "$here/check_report.py" "$work/smoke/report/index.html" --screenshot "$work/screenshot.png" \
  --min-images 6 --width 1400 --height 1200
