-- Stored memory vectors tagged with their memory's world (§3.5, §7.6.1), so the
-- in-memory index keeps one block per (world, owner) and a search never compares
-- another world's vectors. Vectors whose memory is gone are dropped (recomputed if
-- it comes back): their world is unknown.
ALTER TABLE memory_vectors ADD COLUMN world_id TEXT NOT NULL DEFAULT 'default';
DELETE FROM memory_vectors WHERE memory_id NOT IN (SELECT id FROM memories);
UPDATE memory_vectors SET world_id = COALESCE(
    (SELECT m.world_id FROM memories m WHERE m.id = memory_vectors.memory_id), 'default');
