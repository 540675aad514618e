#!/usr/bin/env bash
# ctest RuntimeMpiAbort: a rank that calls Communicator::abort ends the whole job.
#
#   check-mpi-abort.sh TIMEOUT_S MPIEXEC_COMMAND...
#
# Runs the command (mpiexec -n 2 ... precis-runtime-communicator-test --abort-job), in which
# rank 1 aborts with status 3 while rank 0 waits in a barrier for it. Passes when the job ends
# within TIMEOUT_S seconds with status 3 and rank 0 never got past the barrier.
set -uo pipefail
limit=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "FAIL: the job still ran after ${limit}s: abort did not end rank 0" >&2
  exit 1
fi
if grep -q "the barrier returned" "$out"; then
  echo "FAIL: a rank got past the barrier" >&2
  exit 1
fi
grep -q "rank 1: aborting" "$out" || { echo "FAIL: rank 1 never aborted" >&2; exit 1; }
if [ "$rc" -ne 3 ]; then
  echo "FAIL: the job ended with status $rc, not the abort's 3" >&2
  exit 1
fi
echo "PASS: rank 1's abort(3) ended the job (status 3) while rank 0 waited in a barrier"
