#!/bin/bash
# the ordinary traffic of AP-1
exec bash "$CASE_DIR/../common/borrow.sh" AP-1 normal.sh
