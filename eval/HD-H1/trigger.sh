#!/bin/bash
# a second instance of the same application (its own client and folders)
exec "$CASE_DIR/../common-hdfs/client.sh" normal 2
