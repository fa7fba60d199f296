"""Bots, chats, manual edits, ids and slugs: the commands a person gives (§3, §6)."""
