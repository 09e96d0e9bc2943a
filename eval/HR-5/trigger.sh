#!/bin/bash
# another program's batch job takes the host's CPUs: three CPU-bound processes on two
# CPUs; nothing changes in the server
exec bash "$CASE_DIR/../common/cpuhog.sh" 3 60
