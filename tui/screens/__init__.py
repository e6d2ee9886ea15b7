"""The dashboard's screens: the main screen and one module per modal."""
