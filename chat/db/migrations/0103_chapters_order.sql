-- A chat's chapters in their order (§5.7): first_event_id, then event_id (list_chapters,
-- chapter_memories). `last_chapter_text` wants only the last of them, what a new chapter
-- continues from; with chapters_chat (chat_id, last_event_id) alone SQLite read every
-- chapter of the chat and sorted them to find it. With this index the order is the
-- index's: the last chapter is one step from its end, and the full listings need no sort.
CREATE INDEX chapters_chat_order ON chapters (chat_id, first_event_id, event_id);
