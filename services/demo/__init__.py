"""`make demo`: the whole system on its embedded default, with sample complaints."""
