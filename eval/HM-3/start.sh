#!/bin/bash
# the server of MC-2, clean build (no patch)
exec bash "$CASE_DIR/../common/borrow.sh" MC-2 start.sh
