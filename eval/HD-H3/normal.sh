#!/bin/bash
# the application: puts, gets, deletes, listings, stats, renames (about 15 operations/s)
exec "$CASE_DIR/../common-hdfs/client.sh" normal 1
