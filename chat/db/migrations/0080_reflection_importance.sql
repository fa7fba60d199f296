-- Rewind in O(turn) (issue 15): the importance a bot has gathered since its last
-- reflection is one row per memory, summed when asked, instead of one counter that
-- every memory of the bot updates. A rewind recomputes the rows the reverted turns
-- touched and the events that touch them; a shared counter made every later memory
-- of that bot, in every chat of the world, such an event.
CREATE TABLE reflection_importance (
    event_id   INTEGER PRIMARY KEY,
    world_id   TEXT NOT NULL,
    bot_id     TEXT NOT NULL,
    importance INTEGER NOT NULL
);
CREATE INDEX reflection_importance_bot
    ON reflection_importance (world_id, bot_id, event_id, importance);

ALTER TABLE reflection_state DROP COLUMN importance_since;

UPDATE projection_state SET needs_rebuild = 1;
