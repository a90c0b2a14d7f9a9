"""One contract suite run over every provider adapter."""
