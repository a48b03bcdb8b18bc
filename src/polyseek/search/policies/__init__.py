"""Ranking rules, one per file: how documents, moments and concepts change a search (see ``base.Policy``)."""
