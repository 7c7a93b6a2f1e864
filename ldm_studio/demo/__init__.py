"""The demo model: procedural training scenes and the trainer of the small LDM shipped with the app."""
