"""The files LDM Studio writes and reads back: recipes, atomic outputs and history names, limits on
untrusted input, OS file locks and the store's folders.
"""
