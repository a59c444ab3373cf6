"""A third, toy source (one flat folder of key files) added through the registry only: the
proof of spec/sources.md's contract."""
