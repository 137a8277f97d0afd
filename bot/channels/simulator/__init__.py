"""The web simulator's channel: replies stored in the database for the browser to poll."""
