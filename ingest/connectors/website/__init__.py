"""The website source: a documentation or help site crawled with Scrapy (see connector.py)."""
