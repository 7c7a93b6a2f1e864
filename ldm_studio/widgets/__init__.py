"""Qt views: the main window and its panels."""
