"""The chunk store: content-defined chunks named by BLAKE3, lz4-compressed, packed, indexed."""
