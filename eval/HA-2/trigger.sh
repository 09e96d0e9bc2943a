#!/bin/bash
# a graceful restart, as `apachectl graceful` does after a configuration change
kill -USR1 "$(cat "$WORK/run/httpd.pid")"
