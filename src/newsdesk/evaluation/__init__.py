"""Quality measurements on labelled evaluation data (``newsdesk eval ...``)."""
