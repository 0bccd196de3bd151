"""Watches: tell a person, in a direct message, when the deletion job they watch completes or fails (issue 11)."""
