#!/bin/bash
# the server of AP-2, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" AP-2 start.sh
