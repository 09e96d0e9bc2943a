#!/bin/bash
# Runs the script SCRIPT of the case CASE (a folder beside this one) as that case would
# run it, with CASE_DIR naming that case. Healthy cases borrow a bug case's server and
# traffic this way; they have no patch, so the server is the clean build.
#   bash "$CASE_DIR/../common/borrow.sh" LT-3 start.sh
set -e
base="$(cd "$(dirname "$0")/../$1" && pwd)"
script=$2
shift 2
CASE_DIR="$base" exec bash "$base/$script" "$@"
