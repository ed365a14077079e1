"""IRC clients in the same chat (issue 16, in progress): the wire format of IRC messages.

Nothing here is served yet: the ``--irc`` listener that puts IRC users in the same sessions,
rooms and history as everyone else comes with the rest of the issue.
"""
