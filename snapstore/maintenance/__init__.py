"""Operations that keep a repository healthy: gc, check, cleanup and archiving, and the references
they share."""
