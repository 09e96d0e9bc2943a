#!/bin/bash
# the server of RD-1, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" RD-1 start.sh
