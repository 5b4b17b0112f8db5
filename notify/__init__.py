"""Reaching people: what a message says (templates per kind and language) and the channels that carry it.

Pure rendering (``notify.render``) and the channels (``notify.mail``, ``notify.chat``) are imported by the
delivery activities and by the services; they know nothing of cycles, workflows or the database.
"""
