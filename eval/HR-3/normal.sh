#!/bin/bash
# the ordinary traffic of RD-2
exec bash "$CASE_DIR/../common/borrow.sh" RD-2 normal.sh
