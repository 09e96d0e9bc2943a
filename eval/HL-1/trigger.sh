#!/bin/bash
# nothing happens: the alarm is raised on a server that is fine
exit 0
