#!/bin/bash
# the ordinary traffic of MC-3
exec bash "$CASE_DIR/../common/borrow.sh" MC-3 normal.sh
