#!/bin/sh
# tools/check_layers must fail on a forbidden include edge (scheduler/ including server/) and on a
# LibTorch include in server/, and pass once they are gone. Usage: check_layers_rejects.sh SCRIPT
set -eu
script=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/scheduler" "$dir/server"
echo '#include "server/server.h"' > "$dir/scheduler/queue.h"
echo '#include "models/torch_engine.h"' > "$dir/server/server.cc"
if /usr/bin/python3 "$script" --root "$dir" > "$dir/out"; then
  echo "check_layers passed a tree with forbidden includes"; exit 1
fi
grep -q 'scheduler/queue.h:1: #include "server/server.h": scheduler/ may not use server/' "$dir/out"
grep -q 'server/server.cc:1: #include "models/torch_engine.h": a LibTorch header' "$dir/out"
echo '#include "util/flag_check.h"' > "$dir/scheduler/queue.h"
echo '#include "scheduler/dispatcher.h"' > "$dir/server/server.cc"
/usr/bin/python3 "$script" --root "$dir"
echo "check_layers: rejects forbidden edges, accepts allowed ones"
