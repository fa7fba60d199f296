-- Memory recall (§5.3, §5.3.1, §7.6.1, §8.3).
-- message_id: the message a witnessed observation refers to (its text is the
-- message's, never copied into the log a second time).
-- superseded_by: the later memory that contradicts or updates this one; superseded
-- memories stay visible but are not retrieved.
ALTER TABLE memories ADD COLUMN message_id TEXT;
ALTER TABLE memories ADD COLUMN superseded_by TEXT;
CREATE INDEX memories_message ON memories (message_id) WHERE message_id IS NOT NULL;

-- Stored embedding vectors, one per memory and model, float16, computed in the
-- background. Not a projection table: a rebuild keeps them (memory ids are stable)
-- and whatever is missing or stale (text_crc differs) is recomputed. seq only
-- grows, so a reader's in-memory index catches up by reading seq > last seen.
CREATE TABLE memory_vectors (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL,
    model     TEXT NOT NULL,
    owner     TEXT NOT NULL,
    text_crc  INTEGER NOT NULL,
    dim       INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    UNIQUE (model, memory_id)
);
