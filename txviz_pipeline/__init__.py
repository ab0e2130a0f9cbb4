"""txviz: card transactions to a live picture of spending and fraud."""
