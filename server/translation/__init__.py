"""Offline machine translation of chat messages with Argos Translate packages.

``packages`` installs and lists ``.argosmodel`` files under ``<data_dir>/translation/packages``;
``translator`` translates off the event loop with a cache; ``sentence_splitter`` keeps sentence
splitting offline; ``language_id`` guesses a message's language; ``cli`` is the ``translation``
command. Importing this package does not import
argostranslate: that happens on first use, after its environment is set from ``Settings``.
"""
