#!/bin/bash
# the ordinary traffic of LT-2
exec bash "$CASE_DIR/../common/borrow.sh" LT-2 normal.sh
