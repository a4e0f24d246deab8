"""The refusals of the files feature, with the status an HTTP client sees."""

from __future__ import annotations

from server.core.errors import AppError
from server.core.i18n import N_


class FileTooLarge(AppError):
    code = "file_too_large"
    status = 413


class UnsupportedFileType(AppError):
    code = "unsupported_file_type"
    status = 415


TOO_LARGE = N_("The file is larger than {limit} MB, the most a conversation accepts.")
EMPTY = N_("The file is empty.")
NOT_ALLOWED = N_("This kind of file cannot be shared here. Share images (JPEG, PNG, WebP, GIF), PDFs, "
                 "text or office documents.")
IMAGE_UNREADABLE = N_("The image could not be read.")
IMAGE_TOO_BIG = N_("The image has more than {megapixels} megapixels.")
NO_SUCH_FILE = N_("No such file.")
SEND_BYTES = N_("Send the file's bytes as application/octet-stream.")
UPLOADING_TOO_FAST = N_("You have shared many files recently; please wait a few minutes.")
PRIVATE_ROOM = N_("Files and the library are not available in a private room: the server could read them.")
NOT_SENT = N_("The file could not be shared in this conversation.")
