"""Telling people what happened: notifications and their texts."""
