-- Lore belongs to a world (§3.5, §8.1; chat/state/lore.py): each world's own book
-- (bot_id '') and each taking-part bot's book there. Until now a bot's lore was read
-- from the bot wherever it went; the rebuild this asks for puts every bot's lore into
-- the world(s) it took part in (`default` for data older than worlds).
CREATE TABLE lore_books (
    world_id         TEXT NOT NULL,
    bot_id           TEXT NOT NULL,
    entries          TEXT NOT NULL,
    updated_event_id INTEGER NOT NULL,
    PRIMARY KEY (world_id, bot_id)
);

UPDATE projection_state SET needs_rebuild = 1;
