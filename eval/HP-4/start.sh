#!/bin/bash
# the server of PG-2, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" PG-2 start.sh
