"""The browser front end of ``twistd chat --web ENDPOINT``.

:mod:`twisted_chat.web.resources` serves the client page at ``/`` and the WebSocket at ``/ws`` on
one port; :mod:`twisted_chat.web.protocol` makes each WebSocket a thin adapter over a
:class:`~twisted_chat.session.Session`. The page, its script and style are plain files in
``static/``, with no build step.
"""
