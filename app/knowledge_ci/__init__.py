"""Knowledge CI (issue 20): every publish replayed against an evaluation dataset before it goes live."""
