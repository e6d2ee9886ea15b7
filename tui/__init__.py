"""The terminal side: the Textual dashboard and the click command line that opens it."""
