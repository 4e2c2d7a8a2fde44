"""Analysis of graded runs: what each selection method picks, against time, cost and samples.

``selection`` (the methods' step functions over arrivals, read at any time or cost), ``subsets``
(the same against the sample count k: expectations over k-subsets), ``summary`` (a run's closing
numbers) and ``cost`` (a model's analytic FLOPs and bytes per token). The report draws from these.
"""
