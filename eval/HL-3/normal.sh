#!/bin/bash
# the ordinary traffic of LT-3
exec bash "$CASE_DIR/../common/borrow.sh" LT-3 normal.sh
