"""Web: the HTTP ingest endpoints and, later, the UI; a thin shell over `seamline.app.App`."""
