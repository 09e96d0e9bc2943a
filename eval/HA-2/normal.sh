#!/bin/bash
# the ordinary traffic of AP-2
exec bash "$CASE_DIR/../common/borrow.sh" AP-2 normal.sh
