"""What ships beside the code: the CRDs, the Metacontroller manifests and components, the
examples, the image (Dockerfile, lock file) and the docs pages that mirror them (DESIGN §7)."""
