"""A snapshot seen as a tree of files: what ls, cat, find, mount and export stand on.

``nodes`` holds the records (a ``Node`` and the ``Content`` of a file), ``bulk`` the bulk roots
of one snapshot as one tree (read from its listings, never from the live disk), ``layout`` the
reference's on-disk layout of a whole snapshot (``metadata.json``, ``bulk_store/``,
``database/``) built from a bulk tree and the database files a source provides, and ``output``
the writers that put a tree on disk or in a tar file. Nothing here writes to the repository.
"""
