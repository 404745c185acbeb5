#!/usr/bin/env bash
echo "run.sh got: $*"
