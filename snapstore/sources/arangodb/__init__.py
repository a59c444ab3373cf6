"""The ArangoDB source: dump a database into the chunk store and restore it, via python-arango.

``source.ArangoSource`` implements ``snapstore.sources.database.DatabaseSource``. This package
file imports nothing: the chunk formats (``doctree``, ``compare``) that check, gc and diff read
must not pull in python-arango, which only commands that talk to a server need. The modules:
``connection`` (endpoints incl. Unix sockets, auth, raw calls, one-line errors), ``objects``
(collections, indexes, views, analyzers, graphs), ``docchunks`` (canonical documents and
key-anchored chunk trees), ``sorting`` (key order in bounded memory), ``dump``, and
``restore`` with ``teardown``, ``build``, ``verify``, ``target`` and ``progress``.
``snapstore.inspection.diff`` compares two snapshots' trees by key. spec/database.md describes the
manifest section and the chunk formats.
"""
