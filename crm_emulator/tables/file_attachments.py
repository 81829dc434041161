"""The ``fileattachment`` table: one row per file stored in a file column of a record (its rows are computed
from the file columns by ``crm_emulator/files.py``, which serves them and the contents)."""

from __future__ import annotations

from crm_emulator.columns import datetime_col, entity_name, integer, lookup, primary_key, string
from crm_emulator.schema import Table


def fileattachment_table(targets: tuple[str, ...]) -> Table:
    cols = [
        primary_key("fileattachmentid"),
        string("filename", 255, primary_name=True, writable=False),
        integer("filesizeinbytes", 0, 2147483647, writable=False),
        string("mimetype", 256, writable=False),
        string("regardingfieldname", 100, writable=False),
        entity_name("objecttypecode", writable=False),
        lookup("objectid", *targets, writable=False),
        datetime_col("createdon", writable=False),
    ]
    return Table(
        "fileattachment",
        "fileattachments",
        "File Attachment",
        "File Attachments",
        "fileattachmentid",
        "filename",
        55,
        cols,
        change_tracking=False,
        can_change_tracking=False,
        ownership="None",
        valid_for_advanced_find=False,
        description="One file stored in a file column of a record.",
    )
