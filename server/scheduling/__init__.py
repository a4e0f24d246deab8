"""Sessions: weekly availability, 1:1 booking, group sessions, reminders, lifecycle, calendar feed."""
