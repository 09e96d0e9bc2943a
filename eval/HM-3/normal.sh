#!/bin/bash
# the ordinary traffic of MC-2
exec bash "$CASE_DIR/../common/borrow.sh" MC-2 normal.sh
