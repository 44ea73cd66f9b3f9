# tests/e2e_checks.sh — the check helpers of the end-to-end scripts that print one line per check
# and "N passed, M failed" last (mlp_e2e.sh, variations_e2e.sh); sourced, after `passed=0 failed=0`.

# verdict NAME STATUS: records a check's outcome (STATUS 0 = pass).
verdict() {
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "pass: $1"
    else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
# is NAME COMMAND...: a check that passes when COMMAND succeeds.
is() { local name=$1; shift; "$@"; verdict "$name" $?; }
