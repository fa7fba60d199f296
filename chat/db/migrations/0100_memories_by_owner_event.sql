-- A bot's newest memories by index (extraction compares a proposal with the 300 newest,
-- `list_memories(owner=...)`): ordered by event id within (world, owner) instead of
-- every memory of the bot read and sorted per turn (10 ms and more for a bot with a few
-- thousand memories; under 1 ms this way). It replaces memories_owner, its prefix, so a
-- memory insert updates as many indexes as before.
CREATE INDEX memories_owner_event ON memories (world_id, owner, event_id);
DROP INDEX memories_owner;
