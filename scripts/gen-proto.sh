#!/usr/bin/env bash
# Regenerates the TypeScript types for proto/fedproof/v1 (git-ignored output).
# The options must match PROTO_LOADER_OPTIONS in proto/load.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf proto/generated
npx --no-install proto-loader-gen-types --longs=String --enums=String --defaults --oneofs \
  --grpcLib=@grpc/grpc-js --includeComments -I proto -O proto/generated $(cd proto && ls fedproof/v1/*.proto) >/dev/null
# The generator writes extensionless relative imports; ESM (NodeNext) needs the .js suffix.
find proto/generated -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)';#\1.js';#" {} +
