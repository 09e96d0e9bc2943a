#!/bin/bash
# a metrics shipper: two streams, a 200-byte record and hflush() every 20 ms
exec "$CASE_DIR/../common-hdfs/client.sh" stream
