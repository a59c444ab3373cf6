#!/usr/bin/env bash
# `make demo`: the main job on a small local sample. Creates a tree of "experiment files",
# snapshots it, changes it, snapshots again, lists, restores the first snapshot into a new
# directory, and shows that the restored tree equals the original. Everything lives in .demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORK=$PWD/.demo
rm -rf "$WORK"
mkdir -p "$WORK"
export SNAPSTORE_REPO="$WORK/snapshots" SNAPSTORE_BULK="$WORK/experiments"
export SNAPSTORE_CACHE_DIR="$WORK/cache" SNAPSTORE_PROJECT_DIR="$PWD"
ss() { echo; echo "\$ snapstore $*"; "$BIN/snapstore" "$@"; }

echo "== 1. A sample bulk tree in $SNAPSTORE_BULK"
"$BIN/python" - "$SNAPSTORE_BULK" <<'PY'
import json, os, random, sys
root = sys.argv[1]
rng = random.Random(7)
os.makedirs(f"{root}/papers", exist_ok=True)
os.makedirs(f"{root}/embeddings", exist_ok=True)
os.makedirs(f"{root}/code/word2vec", exist_ok=True)
os.makedirs(f"{root}/empty-results", exist_ok=True)
os.makedirs(f"{root}/__pycache__", exist_ok=True)
words = "the model vector corpus embedding training word context loss window".split()
for i in range(5):
    with open(f"{root}/papers/paper_{i}.jsonl", "w") as f:
        for j in range(4000):
            f.write(json.dumps({"id": f"{i}-{j}", "text": " ".join(rng.choices(words, k=30))}) + "\n")
with open(f"{root}/embeddings/vectors.bin", "wb") as f:
    f.write(rng.randbytes(8 * 1024 * 1024))
for i in range(50):
    with open(f"{root}/code/word2vec/module_{i}.py", "w") as f:
        f.write(f"def f{i}(x):\n    return x * {i}\n" * rng.randint(5, 50))
os.symlink("papers/paper_0.jsonl", f"{root}/latest_paper")
open(f"{root}/__pycache__/junk.pyc", "wb").write(b"excluded by default")
PY
du -sh "$SNAPSTORE_BULK"

echo; echo "== 2. First snapshot"
ss create "Before CF validation Phase 4 - clean baseline"
FIRST=$("$BIN/snapstore" list --json | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)[0]["snapshot_name"])')

cp -a "$SNAPSTORE_BULK" "$WORK/expected" && rm -rf "$WORK/expected/__pycache__"

echo; echo "== 3. The experiment changes some files"
echo '{"id": "new", "text": "appended result"}' >> "$SNAPSTORE_BULK/papers/paper_3.jsonl"
rm "$SNAPSTORE_BULK/code/word2vec/module_7.py"
echo "results = 42" > "$SNAPSTORE_BULK/empty-results/run1.py"

echo; echo "== 4. Second snapshot: only the changes are stored"
ss create "After Phase 4 - results validated" --permanent
ss list --verbose

echo; echo "== 5. Restore the first snapshot into a new directory"
ss restore "$FIRST" --target "$WORK/restored" --yes
ss check --read-data
ss list

echo; echo "== 6. Does the restored tree equal the first state?"
if diff -r --no-dereference "$WORK/expected" "$WORK/restored"; then
  echo "✓ restored tree equals the tree of the first snapshot (module_7.py is back, run1.py gone)"
else
  echo "✗ restored tree differs"; exit 1
fi
echo; echo "== 7. The database half, against snapstore's TEST ArangoDB server"
echo "   (an in-memory stand-in from tests/arango_server: no real ArangoDB on this machine)"
PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/python" -m tests.arango_server --port "$PORT" --user root --password demo > "$WORK/arango.log" 2>&1 &
ARANGO_PID=$!
trap 'kill $ARANGO_PID 2>/dev/null || true' EXIT
export SNAPSTORE_ARANGO_URL="http://127.0.0.1:$PORT" SNAPSTORE_ARANGO_DB=arxiv_datastore
export SNAPSTORE_ARANGO_USER=root SNAPSTORE_ARANGO_PASSWORD=demo
"$BIN/python" - <<'PY'
import os, time
from arango import ArangoClient
for _ in range(50):
    try:
        sys_db = ArangoClient(hosts=os.environ["SNAPSTORE_ARANGO_URL"]).db("_system", "root", "demo", verify=True)
        break
    except Exception:
        time.sleep(0.1)
sys_db.create_database("arxiv_datastore")
db = ArangoClient(hosts=os.environ["SNAPSTORE_ARANGO_URL"]).db("arxiv_datastore", "root", "demo")
papers = db.create_collection("arxiv_markdown")
papers.insert_many([{"_key": f"paper{i:04d}", "title": f"Paper {i}", "words": i * 37} for i in range(2000)])
papers.add_index({"type": "persistent", "fields": ["title"], "name": "by_title"})
cites = db.create_collection("citations", edge=True)
cites.insert_many([{"_from": f"arxiv_markdown/paper{i:04d}", "_to": f"arxiv_markdown/paper{i + 1:04d}"} for i in range(1999)])
print("   seeded arxiv_markdown (2000 docs) and citations (1999 edges)")
PY
ss create "Database baseline" --no-bulk
DBSNAP=$("$BIN/snapstore" list --json | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)[0]["snapshot_name"])')
"$BIN/python" - <<'PY'
import os
from arango import ArangoClient
db = ArangoClient(hosts=os.environ["SNAPSTORE_ARANGO_URL"]).db("arxiv_datastore", "root", "demo")
db.collection("arxiv_markdown").delete_many([{"_key": f"paper{i:04d}"} for i in range(500)])
db.create_collection("scratch").insert({"oops": True})
print("   the experiment deleted 500 papers and created a stray collection 'scratch'")
PY
ss restore "$DBSNAP" --no-bulk --yes
"$BIN/python" - <<'PY'
import os
from arango import ArangoClient
db = ArangoClient(hosts=os.environ["SNAPSTORE_ARANGO_URL"]).db("arxiv_datastore", "root", "demo")
names = sorted(c["name"] for c in db.collections() if not c["name"].startswith("_"))
print(f"   after restore: collections {names}, arxiv_markdown has {db.collection('arxiv_markdown').count()} docs")
PY
ss list

echo; echo "Repository size: $(du -sh "$SNAPSTORE_REPO" | cut -f1) for all these snapshots of a $(du -sh "$SNAPSTORE_BULK" | cut -f1) tree and the database"
echo "The demo's files are in $WORK (delete it when done)."
