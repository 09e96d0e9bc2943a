#!/bin/bash
# the ordinary traffic of RD-1
exec bash "$CASE_DIR/../common/borrow.sh" RD-1 normal.sh
