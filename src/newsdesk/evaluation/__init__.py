"""Quality measurements on labelled or constructed evaluation sets (``newsdesk eval``)."""
