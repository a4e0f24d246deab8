"""Persistence: SQLAlchemy 2 async models, the Database handle, and Alembic migrations."""

from . import models
from .database import Database

__all__ = ["Database", "models"]
