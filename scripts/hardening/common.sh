# Shared by the scripts in scripts/hardening: counting and busted summaries.
# shellcheck shell=bash
passed=0
failed=0

# pass|fail, then what: one counted check.
count() {
  if [ "$1" = pass ]; then
    passed=$((passed + 1))
    echo "hardening: $2: ok"
  else
    failed=$((failed + 1))
    echo "hardening: $2: FAILED"
  fi
}

# Adds the counts of a busted log (its "N successes / N failures / N errors"
# line); a run that printed none counts as one failure.
count_busted() {
  local log=$1 status=$2 summary ok bad errs
  summary=$(grep -aE '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    count fail "busted printed no summary (exit $status)"
    return
  fi
  read -r ok _ _ bad _ _ errs _ <<<"$summary"
  # Name what failed where CI shows it: the log itself stays under build/.
  if [ $((bad + errs)) -ne 0 ]; then grep -aE -A 3 '^(Failure|Error) -> ' "$log" | head -n 60; fi
  passed=$((passed + ok))
  failed=$((failed + bad + errs))
  if [ "$status" -ne 0 ] && [ $((bad + errs)) -eq 0 ]; then count fail "busted exited $status"; fi
}

busted_script() {
  command -v busted
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
