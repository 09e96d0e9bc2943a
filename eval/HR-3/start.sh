#!/bin/bash
# the server of RD-2, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" RD-2 start.sh
