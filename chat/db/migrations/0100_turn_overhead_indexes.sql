-- Turn overhead (§13): two reads every turn makes went through a whole table.
--
-- A bot's newest memories by index: extraction compares a proposal with the 300 newest
-- (`recent_texts`), ordered by event id within (world, owner), instead of every memory
-- of the bot read and sorted (10 ms and more for a bot with a few thousand memories,
-- under 1 ms this way). It replaces memories_owner, its prefix, so a memory insert
-- updates as many indexes as before.
CREATE INDEX memories_owner_event ON memories (world_id, owner, event_id);
DROP INDEX memories_owner;

-- The messages of one turn (the replies a retried turn keeps, who spoke in it) were
-- found by scanning every message of every chat.
CREATE INDEX messages_turn ON messages (turn_id, event_id) WHERE turn_id IS NOT NULL;
