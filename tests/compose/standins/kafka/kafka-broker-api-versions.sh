#!/bin/bash
# The compose health check's command, reduced to what it proves here: the broker listens.
exec 3<>/dev/tcp/127.0.0.1/9092
