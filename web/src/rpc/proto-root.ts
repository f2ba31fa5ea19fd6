import protobuf from "protobufjs";

/**
 * The fedproof.v1 protos parsed into one root, from their text (bundled with the app, or
 * read from proto/ in tests). Every file goes into the same root, so imports between them
 * resolve without a loader.
 */
export function createProtoRoot(sources: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  for (const source of sources) protobuf.parse(source, root, { keepCase: false });
  root.resolveAll();
  return root;
}
