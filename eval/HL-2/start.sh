#!/bin/bash
# the server of LT-2, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" LT-2 start.sh
