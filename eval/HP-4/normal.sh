#!/bin/bash
# the ordinary traffic of PG-2
exec bash "$CASE_DIR/../common/borrow.sh" PG-2 normal.sh
