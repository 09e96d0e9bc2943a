#!/bin/bash
# a log job: appends a 1 KB batch to its log file twice a second
exec "$CASE_DIR/../common-hdfs/client.sh" append
