#!/bin/sh
set -e

# The official node image's entrypoint, as published with it: run the command with node if the first
# argument starts with "-" or is not a command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
