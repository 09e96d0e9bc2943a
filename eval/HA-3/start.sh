#!/bin/bash
# the server of AP-1, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" AP-1 start.sh
