#!/bin/bash
# the server of LT-3, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" LT-3 start.sh
