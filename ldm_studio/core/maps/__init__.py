"""Semantic maps: label sets, strict and forgiving map files, the painter's document and templates, label
translation between datasets and display colours.
"""
