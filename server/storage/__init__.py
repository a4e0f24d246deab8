"""Persistence: SQLAlchemy 2 async models, the Database handle, and Alembic migrations."""

from .database import Database
from . import models

__all__ = ["Database", "models"]
