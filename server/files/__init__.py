"""Files in conversations and each room's library of pinned resources.

A shared file is a message of kind "file" (so it is in history, resync, export and delete like any
message) whose bytes are sealed with the room's key outside the database (``blobs``), checked by
content (``media_types``), and for images re-encoded without their metadata and given a thumbnail
(``images``). ``attachments`` decides, ``http`` carries the bytes in and out, ``resources`` keeps
the library.
"""
