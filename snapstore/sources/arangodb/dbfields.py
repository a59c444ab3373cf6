"""Which fields of an ArangoDB collection or index definition the server sets by itself.

Part of the manifest's ``database`` section schema (spec/database.md): the dump keeps these
fields for information, restore never sends them, and diff ignores them when it compares
definitions, because they differ between a database and its restored copy.
"""

from __future__ import annotations

# Server-managed collection properties: kept in the snapshot, never sent on create.
COLLECTION_SERVER_FIELDS = frozenset(
    {
        "error",
        "code",
        "id",
        "objectId",
        "globallyUniqueId",
        "status",
        "statusString",
        "isSystem",
        "usesRevisionsAsDocumentIds",
        "syncByRevision",
        "internalValidatorType",
        "isSmartChild",
        "planId",
        "count",
        "figures",
        "checksum",
        "revision",
        "tempObjectId",
        "version",
    }
)
INDEX_SERVER_FIELDS = frozenset(
    {
        "id",
        "selectivityEstimate",
        "figures",
        "isNewlyCreated",
        "error",
        "code",
        "trainingState",
        "errorMessage",
        "isBuilding",
        "progress",
    }
)
