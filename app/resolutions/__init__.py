"""Learning from human resolutions (issue 20, item 2): a handed-off session a person resolved becomes a
draft Q&A article (or an edit of the article it nearly duplicates) that waits for review."""
