#!/usr/bin/env bash
# scripts/matrix.sh [MINOR...]: the tests on every ansible-core the collection
# claims (scripts/core-versions.py; all when no MINOR is given), each in its
# own virtualenv (scripts/core-venv.sh):
#   unit    pytest tests/unit
#   render  the functional tests that render the load_balancer role with
#           ansible-playbook on localhost and check it with this machine's
#           nginx (no container)
#   sanity  scripts/sanity.sh MINOR (ansible-test sanity)
# MATRIX_STAGES picks stages (default "unit render sanity"); MATRIX_PARALLEL=1
# runs the versions side by side (each version's stages still in order; a
# version's tests take one core: ansible-test and pytest are single-threaded
# here), its lines printed when it ends. Prints the table
# version -> result per stage (counts as pytest and ansible-test report them,
# wall time) and writes it to .artifacts/matrix.md; each stage's output is in
# .artifacts/matrix/MINOR-STAGE.log. Exit status 1 when any stage failed.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=${MATRIX_STAGES:-unit render sanity}
render_tests=(tests/functional/test_load_balancer_render.py tests/functional/test_load_balancer_nginx_conf.py
              tests/functional/test_load_balancer_sites.py tests/functional/test_load_balancer_stream.py)
if [[ $# -gt 0 ]]; then minors=("$@"); else read -r -a minors <<<"$(python3 scripts/core-versions.py --minors)"; fi
logs=.artifacts/matrix
mkdir -p "$logs"
table=.artifacts/matrix.md
rows=()
failed=0

# The counts of pytest's last line ("1869 passed, 2 skipped in 80.1s"), or of ansible-test.
pytest_counts() { tail -n 1 "$1" | sed -E 's/^=+ //; s/ in [0-9.]+s.*//; s/, [0-9]+ warnings?//'; }
sanity_counts() {
  local ran failing
  ran=$(grep -c '^Running sanity test' "$1" || true)
  failing=$(sed -nE 's/^FATAL: The ([0-9]+) sanity test\(s\) listed below \(out of ([0-9]+)\) failed.*/\1/p' "$1")
  echo "$((ran - ${failing:-0})) of $ran tests passed${failing:+, $failing failed: $(sed -n '/^FATAL: The/,$p' "$1" | tail -n +2 | tr '\n' ' ')}"
}

# One version's stages; its table rows go to $logs/MINOR.rows. Returns 1 when a
# stage failed, 2 when the version's virtualenv or stage list is wrong.
run_minor() {
  local minor=$1 version python interpreter py where stage log start result counts failed=0 cmd
  read -r minor version python interpreter <<<"$(python3 scripts/core-versions.py --get "$minor")"
  rm -f "$logs/$minor.rows"
  scripts/core-venv.sh "$minor" || return 2
  py=$(scripts/core-run.sh "$minor" -- python -c 'import platform; print(platform.python_version())') || return 2
  where=$([[ $interpreter == container:* ]] && echo "${interpreter#container:} container" || echo local)
  : >"$logs/$minor.rows"
  for stage in $stages; do
    log=$logs/$minor-$stage.log
    start=$SECONDS
    echo "==> ansible-core $version (Python $py, $where): $stage"
    case $stage in
      unit) cmd=(scripts/core-run.sh "$minor" -- python -m pytest -q -p no:cacheprovider tests/unit) ;;
      render) cmd=(scripts/core-run.sh "$minor" -- python -m pytest -q -p no:cacheprovider "${render_tests[@]}") ;;
      sanity) cmd=(scripts/sanity.sh "$minor") ;;
      *) echo "unknown stage $stage (unit, render, sanity)" >&2; return 2 ;;
    esac
    if "${cmd[@]}" >"$log" 2>&1; then result=passed; else result=FAILED; failed=1; fi
    if [[ $stage == sanity ]]; then counts=$(sanity_counts "$log"); else counts=$(pytest_counts "$log"); fi
    echo "| $version | $py ($where) | $stage | $result | $counts | $((SECONDS - start)) s |" >>"$logs/$minor.rows"
    echo "    $result: $counts ($((SECONDS - start)) s; $log)"
  done
  return $failed
}

if [[ ${MATRIX_PARALLEL:-0} == 1 ]]; then
  pids=()
  for minor in "${minors[@]}"; do
    run_minor "$minor" >"$logs/$minor.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "$logs/${minors[$i]}.out"
  done
else
  for minor in "${minors[@]}"; do
    run_minor "$minor" || failed=1
  done
fi
for minor in "${minors[@]}"; do
  if [[ -e $logs/$minor.rows ]]; then mapfile -t -O "${#rows[@]}" rows <"$logs/$minor.rows"; fi
done

{
  echo "# ansible-core matrix ($(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "| ansible-core | Python | stage | result | counts | wall |"
  echo "| --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} >"$table.tmp"
# Earlier rows of versions and stages not run this time stay (make unit-core writes two of six).
if [[ -e $table ]]; then
  grep -E '^\| [0-9]' "$table" | while IFS= read -r row; do
    key=$(awk -F'|' '{print $2 "|" $4}' <<<"$row")
    grep -qF -- "$key" <(awk -F'|' '{print $2 "|" $4}' "$table.tmp") || echo "$row"
  done >>"$table.tmp"
fi
{ head -n 4 "$table.tmp"; tail -n +5 "$table.tmp" | sort -t'|' -k2,2V -k4,4; } >"$table"
rm -f "$table.tmp"
cat "$table"
exit $failed
