"""The benchmarked tools, one module each, behind the `Tool` interface of `base`.

`TOOLS` lists them in report order: snapstore first, then the peers it is compared with, and
last the floor (a cold stat walk of the tree: what no snapshot can cost less than).
"""

from __future__ import annotations

from bench.tools.base import Tool, ToolPaths, ensure_installed
from bench.tools.borg_tool import BorgTool
from bench.tools.restic_tool import ResticTool
from bench.tools.rsync_tool import RsyncTool
from bench.tools.snapstore_tool import SnapstoreEncryptedTool, SnapstoreTool
from bench.tools.statwalk_tool import StatWalkTool

TOOLS: dict[str, type[Tool]] = {
    tool.name: tool
    for tool in (
        SnapstoreTool,
        SnapstoreEncryptedTool,
        ResticTool,
        BorgTool,
        RsyncTool,
        StatWalkTool,
    )
}

__all__ = ["TOOLS", "Tool", "ToolPaths", "ensure_installed"]
