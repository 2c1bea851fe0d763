"""Authored help-center content: topics, articles and their translations, indexed on publish.

``HelpCenterStore`` keeps the content (SQL); ``HelpCenterPublisher`` turns published
translations into ``Document``s and writes them through the ingest pipeline (parser, chunker,
embedder, index writer), so publishing is indexing; ``markdown_io`` reads and writes the help
center as a folder of Markdown files with YAML front matter.
"""
