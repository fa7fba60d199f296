-- Indexes for memory retrieval (§8.3): the most recently retrieved and the most
-- important memories of one bot are read by index, never by scanning all of them.
CREATE INDEX memories_owner_recency ON memories (owner, last_retrieved_at);
CREATE INDEX memories_owner_importance ON memories (owner, importance);
