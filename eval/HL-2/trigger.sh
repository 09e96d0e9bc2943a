#!/bin/bash
# twice the traffic: a second client runs the same ordinary traffic until the end
exec bash "$CASE_DIR/../common/borrow.sh" LT-2 normal.sh
