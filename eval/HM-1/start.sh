#!/bin/bash
# the server of MC-3, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" MC-3 start.sh
